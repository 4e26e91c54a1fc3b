package mupdateserver

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

func (c *conn) startTLS(ctx context.Context, tag string) bool {
	raw := func(kind, text string) bool {
		return c.write(true, func(e *wire.Encoder) { e.StatusRaw(tag, kind, text) }) == nil
	}
	switch {
	case c.userid != "":
		return raw(wire.KindBAD, textTLSAfterAuth)
	case c.tls:
		return raw(wire.KindBAD, textTLSAgain)
	}
	if !raw(wire.KindOK, textBeginTLS) {
		return false
	}
	tc := tls.Server(c.raw, c.s.cfg.TLSConfig)
	hctx, cancel := context.WithDeadline(ctx, c.deadline(3*time.Minute))
	defer cancel()
	c.raw.SetDeadline(time.Time{})
	if err := tc.HandshakeContext(hctx); err != nil {
		c.log.Info("mupdate: TLS handshake failed", "err", err)
		return false
	}
	// Input pipelined after STARTTLS is discarded (the old reader goes).
	// Under the write lock: evict may write to the connection meanwhile.
	c.wmu.Lock()
	c.nc = tc
	c.tls = true
	c.setIO(tc)
	c.wmu.Unlock()
	c.banner()
	return true
}
