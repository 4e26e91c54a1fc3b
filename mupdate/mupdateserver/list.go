package mupdateserver

import (
	"context"
	"strings"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

func (c *conn) list(ctx context.Context, tag, prefix string) bool {
	snap, err := c.s.cfg.Backend.Snapshot(ctx)
	if err != nil {
		c.log.Error("mupdate: snapshot failed", "err", err)
		return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindNO, textBackendError) }) == nil
	}
	defer snap.Close()
	err = c.dump(ctx, snap, tag, func(m *mupdate.Mailbox) bool { return strings.HasPrefix(m.Location, prefix) })
	if err != nil {
		return false
	}
	return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindOK, textListComplete) }) == nil
}

// dump writes the snapshot's matching mailboxes (bufio flushes as its
// buffer fills; the write deadline is renewed every 256 entries).
func (c *conn) dump(ctx context.Context, snap mupdate.Snapshot, tag string, match func(*mupdate.Mailbox) bool) error {
	c.wmu.Lock()
	n := 0
	var werr error
	err := snap.Range(ctx, func(m mupdate.Mailbox) error {
		if !match(&m) {
			return nil
		}
		c.enc.Mailbox(tag, m)
		n++
		if n&255 == 0 {
			c.renewWriteDeadline()
			if werr = c.enc.Err(); werr != nil {
				return werr
			}
		}
		return nil
	})
	c.wmu.Unlock()
	if werr != nil {
		return werr
	}
	if err != nil {
		c.log.Error("mupdate: dump failed", "err", err)
		c.write(true, func(e *wire.Encoder) { e.Status("*", wire.KindBYE, textBackendError) })
		return err
	}
	return c.enc.Err()
}
