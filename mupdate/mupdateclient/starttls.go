package mupdateclient

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// StartTLS upgrades the connection and reads the new banner.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config) error {
	done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	tag := "S01"
	if err := c.send(func(e *wire.Encoder) { e.Line(tag + " STARTTLS") }); err != nil {
		return err
	}
	if err := c.result(tag, nil); err != nil {
		return err
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("mupdateclient: TLS: %w", err)
	}
	c.nc = tc
	c.setIO(tc)
	return c.readBanner()
}
