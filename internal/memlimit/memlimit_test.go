package memlimit

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
)

func TestTarget(t *testing.T) {
	for _, c := range []struct {
		live, want int64
	}{
		{-1, Floor},
		{0, Floor},
		{100 << 20, Floor}, // 133 + 64 MiB: under the floor
		{150 << 20, 264 << 20},
		{450_000_000, 637 << 20},       // ~a million mailboxes: 600,000,000 + 64 MiB, rounded up
		{480_000_000, 675 << 20},       // 640,000,000 + 64 MiB
		{900_000_000, 1209 << 20},      // two million
		{3 << 40, 4<<40 + 64<<20},      // 3 TiB: no overflow in live*4
		{math.MaxInt64, math.MaxInt64}, // would overflow: none
		{math.MaxInt64 / 4 * 3, math.MaxInt64},
	} {
		if got := Target(c.live); got != c.want {
			t.Errorf("Target(%d) = %d (%d MiB), want %d (%d MiB)", c.live, got, got>>20, c.want, c.want>>20)
		}
	}
	// never under the live heap, and never falling as it grows
	prev := int64(0)
	for live := int64(0); live < 64<<30; live = live*5/4 + 12345 {
		got := Target(live)
		if got < live*4/3 || got < prev || got%(1<<20) != 0 {
			t.Fatalf("Target(%d) = %d after %d", live, got, prev)
		}
		prev = got
	}
}

func TestNext(t *testing.T) {
	const live = 450_000_000 // Target 637 MiB
	want := Target(live)
	for _, c := range []struct {
		name      string
		cur, want int64
	}{
		{"none yet", math.MaxInt64, want},
		{"unset", 0, want},
		{"lower: raised at once", want - 1<<20, want},
		{"much lower: raised", 256 << 20, want},
		{"equal", want, want},
		{"a little higher: kept", want + want/20, want + want/20},
		{"more than 1/16 higher: lowered", want + want/10, want},
	} {
		if got := Next(c.cur, live); got != c.want {
			t.Errorf("%s: Next(%d, %d) = %d, want %d", c.name, c.cur, int64(live), got, c.want)
		}
	}
}

// keepLimit restores the process's memory limit after a test that sets it.
func keepLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
}

// A step after a GC that found a large allocation live raises the limit
// above it (by a third plus Slack); once the allocation is gone, the next
// step after a GC lowers it again.
func TestStepFollowsLiveHeap(t *testing.T) {
	keepLimit(t)
	debug.SetMemoryLimit(math.MaxInt64)
	var changes [][3]int64
	tu := &Tuner{OnChange: func(old, limit, live int64) { changes = append(changes, [3]int64{old, limit, live}) }}
	runtime.GC()
	small := tu.Step()
	if small != debug.SetMemoryLimit(-1) || small == math.MaxInt64 || small < Floor || small != tu.Limit() {
		t.Fatalf("first step: limit %d, process limit %d, Limit() %d", small, debug.SetMemoryLimit(-1), tu.Limit())
	}
	if len(changes) != 1 || changes[0][0] != math.MaxInt64 || changes[0][1] != small {
		t.Fatalf("first step: changes %v", changes)
	}

	const big = 512 << 20 // beyond the floor: the limit must rise
	buf := make([]byte, big)
	for i := 0; i < len(buf); i += 1 << 20 {
		buf[i] = 1
	}
	runtime.GC()
	got := tu.Step()
	runtime.KeepAlive(buf)
	if live := tu.Live(); live < big {
		t.Fatalf("live heap read %d with %d held", live, big)
	}
	if got < big*4/3+Slack || got != debug.SetMemoryLimit(-1) || got != Target(tu.Live()) {
		t.Errorf("after a %d-byte live allocation: limit %d (process %d), want Target(%d) = %d, at least %d",
			big, got, debug.SetMemoryLimit(-1), tu.Live(), Target(tu.Live()), big*4/3+Slack)
	}
	if len(changes) != 2 || changes[1][0] != small || changes[1][1] != got {
		t.Errorf("changes %v", changes)
	}

	buf = nil
	runtime.GC()
	down := tu.Step()
	if down >= big || down != debug.SetMemoryLimit(-1) {
		t.Errorf("after the allocation was freed: limit %d (process %d), want it under %d", down, debug.SetMemoryLimit(-1), big)
	}
}

// Run sets the limit at once and returns when its context ends.
func TestRunStopsWithContext(t *testing.T) {
	keepLimit(t)
	debug.SetMemoryLimit(math.MaxInt64)
	tu := &Tuner{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tu.Run(ctx); close(done) }()
	eventually.True(t, 10*time.Second, "Run sets a limit", func() bool { return tu.Limit() != 0 })
	if l := tu.Limit(); l < Floor || l == math.MaxInt64 || l != debug.SetMemoryLimit(-1) {
		t.Errorf("Run: limit %d, process %d", l, debug.SetMemoryLimit(-1))
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
