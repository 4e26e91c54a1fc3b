package mupdateclient

import (
	"context"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// Activate sends ACTIVATE name location acl.
func (c *Client) Activate(ctx context.Context, name, location, acl string) error {
	return c.simple(ctx, wire.CmdActivate, name, location, acl)
}
