package mupdateclient

import (
	"context"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// List calls fn for every mailbox whose location starts with prefix ("":
// all; sent without an argument), in the server's order.
func (c *Client) List(ctx context.Context, prefix string, fn func(mupdate.Mailbox) error) error {
	done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	tag := c.nextTag("X")
	var args []string
	if prefix != "" {
		args = []string{prefix}
	}
	if err := c.send(func(e *wire.Encoder) { e.Command(tag, wire.CmdList, args...) }); err != nil {
		return err
	}
	return c.result(tag, func(r *wire.Response) error {
		if r.Kind == wire.KindDelete {
			return &wire.ProtocolError{Line: r.Tag + " DELETE", Msg: "DELETE in a LIST"}
		}
		return fn(toMailbox(r))
	})
}
