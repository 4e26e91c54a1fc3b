package mupdateclient

import (
	"context"
	"net"
	"strconv"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// Noop sends NOOP and waits for its OK. While Update streams, it may be
// called from another goroutine: the master flushes its pending changes
// before the OK, so when Noop returns every change the master had when it
// read the NOOP has been passed to Update's callback (the follow mode's lag
// measurement).
func (c *Client) Noop(ctx context.Context) error {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return net.ErrClosed
	}
	streaming := c.streaming
	if !streaming {
		c.mu.Unlock()
		return c.simple(ctx, wire.CmdNoop)
	}
	c.seq++
	tag := "N" + strconv.Itoa(c.seq)
	ch := make(chan error, 1)
	c.nmu.Lock()
	c.noops[tag] = ch
	c.nmu.Unlock()
	c.mu.Unlock()
	if err := c.send(func(e *wire.Encoder) { e.Command(tag, wire.CmdNoop) }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		c.nmu.Lock()
		delete(c.noops, tag)
		c.nmu.Unlock()
		return ctx.Err()
	}
}
