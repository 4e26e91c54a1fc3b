package registry

import (
	"context"
	"log/slog"
	"time"
)

// DefaultTombstoneAge is how long tombstones are kept by default: long
// enough for any replay (a resync after an outage, a write-through retry)
// to meet its tombstone.
const DefaultTombstoneAge = 30 * 24 * time.Hour

// GCLoop removes tombstones older than maxAge every interval until ctx
// ends (a bridge runs it in the background). Errors are logged and retried
// at the next tick.
func GCLoop(ctx context.Context, s Store, maxAge, every time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.GCTombstones(ctx, time.Now().Add(-maxAge))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("registry: tombstone GC failed", "err", err)
		case n > 0:
			log.Info("registry: tombstones removed", "count", n, "older_than", maxAge)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
