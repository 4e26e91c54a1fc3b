package mupdateclient

import (
	"context"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// Deactivate sends DEACTIVATE name location.
func (c *Client) Deactivate(ctx context.Context, name, location string) error {
	return c.simple(ctx, wire.CmdDeactivate, name, location)
}
