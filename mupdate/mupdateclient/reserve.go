package mupdateclient

import (
	"context"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// Reserve sends RESERVE name location.
func (c *Client) Reserve(ctx context.Context, name, location string) error {
	return c.simple(ctx, wire.CmdReserve, name, location)
}
