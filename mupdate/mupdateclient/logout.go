package mupdateclient

import (
	"context"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// Logout sends LOGOUT, waits briefly for the OK and closes.
func (c *Client) Logout(ctx context.Context) error {
	done, err := c.begin(ctx)
	if err != nil {
		return c.Close()
	}
	err = c.send(func(e *wire.Encoder) { e.Line("Q01 LOGOUT") })
	if err == nil {
		err = c.result("Q01", nil)
	}
	done()
	c.Close()
	return err
}
