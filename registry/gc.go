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

// GCLoop removes tombstones older than maxAge at once and then every
// interval until ctx ends (`murder-bridge serve` runs it in the background).
// Errors are logged and retried at the next tick. collected, when set, is
// called with the count of every pass that removed some.
//
// Only registry tombstones (Store.Delete's records) are removed: entries
// flagged deleted (mbtype "d", a Cyrus tombstone brought by mboxconv
// import, which a rename leaves sharing its uniqueid with the live mailbox)
// are entries, which GCTombstones never touches.
func GCLoop(ctx context.Context, s Store, maxAge, every time.Duration, log *slog.Logger, collected func(n int)) {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.GCTombstones(ctx, time.Now().Add(-maxAge))
		if err != nil && ctx.Err() == nil {
			log.Warn("registry: tombstone GC failed", "err", err)
		}
		if n > 0 { // etcd may have removed some before an error
			log.Info("registry: tombstones removed", "count", n, "older_than", maxAge)
			if collected != nil {
				collected(n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
