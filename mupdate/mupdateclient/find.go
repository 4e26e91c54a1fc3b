package mupdateclient

import (
	"context"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// Find looks a mailbox up; ok is false when the master has none.
func (c *Client) Find(ctx context.Context, name string) (m mupdate.Mailbox, ok bool, err error) {
	done, err := c.begin(ctx)
	if err != nil {
		return m, false, err
	}
	defer done()
	tag := c.nextTag("X")
	if err := c.send(func(e *wire.Encoder) { e.Command(tag, wire.CmdFind, name) }); err != nil {
		return m, false, err
	}
	err = c.result(tag, func(r *wire.Response) error {
		if r.Kind != wire.KindDelete {
			m, ok = toMailbox(r), true
		}
		return nil
	})
	return m, ok, err
}
