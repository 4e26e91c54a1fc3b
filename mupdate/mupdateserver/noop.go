package mupdateserver

import (
	"context"
	"time"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// streamingNoop flushes every change committed before the NOOP arrived,
// then answers OK (what a frontend's kick relies on).
func (c *conn) streamingNoop(ctx context.Context, tag string) bool {
	st := c.st
	target, err := c.s.cfg.Backend.Revision(ctx)
	if err == nil {
		deadline := time.Now().Add(c.s.cfg.NoopWait)
		timer := time.AfterFunc(c.s.cfg.NoopWait, func() {
			st.mu.Lock()
			st.cond.Broadcast()
			st.mu.Unlock()
		})
		st.mu.Lock()
		for st.seen < target && st.err == nil && time.Now().Before(deadline) && ctx.Err() == nil {
			st.cond.Wait()
		}
		st.mu.Unlock()
		timer.Stop()
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.drainLocked(st) != nil {
		// The feed has ended (the client was dropped, or the backend
		// ended it): no OK, whose promise could not be kept; the
		// streamer sends the BYE and closes.
		return c.flushLocked() == nil
	}
	c.enc.Status(tag, wire.KindOK, textNoopDone)
	return c.flushLocked() == nil
}

// noop answers NOOP (while an UPDATE streams: see streamingNoop).
func (c *conn) noop(ctx context.Context, tag string) bool {
	if c.st != nil {
		return c.streamingNoop(ctx, tag)
	}
	return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindOK, textNoopDone) }) == nil
}
