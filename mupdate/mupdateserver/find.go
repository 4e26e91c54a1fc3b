package mupdateserver

import (
	"context"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// find answers FIND name.
func (c *conn) find(ctx context.Context, tag, name string) bool {
	m, ok, err := c.s.cfg.Backend.Lookup(ctx, name)
	if err != nil {
		c.log.Error("mupdate: backend lookup failed", "name", name, "err", err)
		return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindNO, textBackendError) }) == nil
	}
	return c.write(false, func(e *wire.Encoder) {
		if ok {
			e.Mailbox(tag, m)
		}
		e.Status(tag, wire.KindOK, textSearchCompleted)
	}) == nil
}
