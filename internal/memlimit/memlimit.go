package memlimit

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// Floor is the lowest limit set. While the live heap is small, Go's
	// GC percent (a bridge with a member runs at 50) keeps the heap far
	// below it, so it costs nothing then; it only keeps a small process
	// that runs with GOGC=off, or one whose live heap jumps (a full
	// UPDATE list of a large registry), from collecting all the time.
	Floor int64 = 256 << 20

	// Slack is added to 4/3 of the live heap: the Go runtime's own
	// memory beside the heap (stacks, GC metadata: ~70 MB at a million
	// mailboxes) and what is allocated between two collections that
	// is not the index (requests, raft entries, the bridge's buffers).
	Slack int64 = 64 << 20

	// Interval is how often Run reads the live heap. Between two reads
	// the heap may grow by a third of the live heap plus Slack (at
	// least ~130 MB) before it reaches the limit. A restart restores a
	// member's index at ~35-45 MB/s here (a million mailboxes: 0.40 GB
	// live in 11-13 s, docs/benchmarks.md), well within that, so the
	// limit, raised at every read, stays ahead of the restore. Had it
	// fallen behind, Go would collect harder (at most about half the
	// CPU) only until the next read, a second later. Reading one
	// runtime/metrics sample costs microseconds: the interval is about
	// how closely the limit follows, not about cost.
	Interval = time.Second
)

// Target is the limit for a live heap of live bytes: 4/3 of it plus
// Slack, at least Floor, rounded up to a whole MiB. At a million mailboxes
// (0.40 GB marked live in an embedded member) that is the 600 MiB a fixed
// limit was measured with: ~0.59 GB of anonymous memory and no collection
// storm (docs/scaling.md, docs/benchmarks.md "The automatic limit"). A
// limit under the live heap would make Go collect almost non-stop; 4/3
// leaves the collector a third of the live heap to work in, as GOGC=33
// would, and grows with the registry.
func Target(live int64) int64 {
	if live < 0 {
		live = 0
	}
	const mib = 1 << 20
	if live > (math.MaxInt64-Slack-mib)/4*3 {
		return math.MaxInt64 // no limit is as good as any this large
	}
	t := live/3*4 + live%3*4/3 + Slack
	t = (t + mib - 1) / mib * mib
	return max(Floor, t)
}

// Next is the limit to set when cur is in force and the live heap is
// live bytes. A higher Target is taken at once: a limit that lags behind a
// growing heap makes Go collect non-stop. A lower one only when it is more
// than 1/16 below cur: the live heap moves by a few MB from one collection
// to the next, and the limit need not follow every move down. A cur of
// math.MaxInt64 (Go's "no limit") or anything not positive is replaced.
func Next(cur, live int64) int64 {
	t := Target(live)
	if cur <= 0 || t >= cur || t < cur-cur/16 {
		return t
	}
	return cur
}

// LiveHeap reads /gc/heap/live:bytes: the heap marked live by the last
// completed GC (0 before the first one).
func LiveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0 // not in this Go: the floor then
	}
	v := s[0].Value.Uint64()
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// Tuner sets the process's Go memory limit (debug.SetMemoryLimit) from its
// live heap. One Tuner per process is enough; several compute the same
// limit from the same heap.
type Tuner struct {
	// OnChange, if not nil, is called after the limit was changed (from
	// old to limit, for a live heap of live bytes): for a log line.
	OnChange func(old, limit, live int64)

	mu    sync.Mutex
	limit atomic.Int64
	live  atomic.Int64
}

// Step reads the live heap once, sets the limit Next says, and returns
// the limit in force.
func (t *Tuner) Step() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := LiveHeap()
	cur := debug.SetMemoryLimit(-1) // -1 reads it
	next := Next(cur, live)
	if next != cur {
		debug.SetMemoryLimit(next)
		if t.OnChange != nil {
			t.OnChange(cur, next, live)
		}
	}
	t.limit.Store(next)
	t.live.Store(live)
	return next
}

// Run steps at once and then every Interval until ctx ends. It leaves the
// last limit in force when it returns.
func (t *Tuner) Run(ctx context.Context) {
	t.Step()
	t.loop(ctx)
}

// Start sets the limit for the current live heap (done when Start
// returns) and keeps it following the heap in a goroutine until ctx ends.
func Start(ctx context.Context, onChange func(old, limit, live int64)) *Tuner {
	t := &Tuner{OnChange: onChange}
	t.Step()
	go t.loop(ctx)
	return t
}

func (t *Tuner) loop(ctx context.Context) {
	tk := time.NewTicker(Interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			t.Step()
		}
	}
}

// Limit is the limit in force after the last step (for logs and metrics;
// Go's own go_gc_gomemlimit_bytes shows the process's).
func (t *Tuner) Limit() int64 { return t.limit.Load() }

// Live is the live heap the last step read.
func (t *Tuner) Live() int64 { return t.live.Load() }
