package mupdateclient

import (
	"context"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// Delete sends DELETE name.
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.simple(ctx, wire.CmdDelete, name)
}
