package registrytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry"
)

// collect reads events until n have arrived or the timeout passes.
func collect(t *testing.T, ch <-chan registry.Event, n int, timeout time.Duration) []registry.Event {
	t.Helper()
	var out []registry.Event
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(out), n)
			}
			if ev.Err != nil {
				t.Fatalf("watch error after %d events: %v", len(out), ev.Err)
			}
			if ev.Type == registry.EventProgress {
				continue
			}
			out = append(out, ev)
		case <-deadline:
			t.Fatalf("watch gave %d of %d events in %v", len(out), n, timeout)
		}
	}
	return out
}

func testWatch(t *testing.T, s registry.Store) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	for i := range 5 {
		mustCreate(t, s, Mailbox(fmt.Sprintf("user.w%d", i), "be1", "default"))
	}
	// A full dump at R, then Watch(R), with writes in between: the stream
	// holds exactly the later changes.
	var dumped []string
	rev, err := s.List(ctx, "", func(e registry.Entry) error { dumped = append(dumped, e.Name); return nil })
	if err != nil || len(dumped) != 5 {
		t.Fatalf("List = %d names, %v", len(dumped), err)
	}
	c5 := mustCreate(t, s, Mailbox("user.w5", "be1", "default"))
	tomb, err := s.Delete(ctx, "user.w0", 0)
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := s.Get(ctx, "user.w1")
	w1.Partition, w1.Locations = "p2", nil
	u1, err := s.Update(ctx, w1)
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, s.Watch(ctx, rev), 3, 10*time.Second)
	want := []struct {
		typ  registry.EventType
		name string
		rev  int64
	}{{registry.EventPut, "user.w5", c5.Revision}, {registry.EventDelete, "user.w0", tomb.Revision}, {registry.EventPut, "user.w1", u1.Revision}}
	for i, w := range want {
		if evs[i].Type != w.typ || evs[i].Name != w.name || evs[i].Revision != w.rev {
			t.Errorf("event %d = %v %s @%d, want %v %s @%d", i, evs[i].Type, evs[i].Name, evs[i].Revision, w.typ, w.name, w.rev)
		}
	}
	if evs[2].Entry.Partition != "p2" || evs[2].Entry.Revision != u1.Revision {
		t.Errorf("update event entry = %+v", evs[2].Entry)
	}
	if evs[1].Tombstone.Name != "user.w0" || evs[1].Tombstone.Revision != tomb.Revision {
		t.Errorf("delete event tombstone = %+v", evs[1].Tombstone)
	}
	// Resume after the first event: exactly the two later ones, then live
	// changes as they happen.
	wctx, wcancel := context.WithCancel(ctx)
	ch := s.Watch(wctx, evs[0].Revision)
	got := collect(t, ch, 2, 10*time.Second)
	if got[0].Revision != tomb.Revision || got[1].Revision != u1.Revision {
		t.Errorf("resumed watch revisions %d %d, want %d %d", got[0].Revision, got[1].Revision, tomb.Revision, u1.Revision)
	}
	live := mustCreate(t, s, Mailbox("user.live", "be1", "default"))
	got = collect(t, ch, 1, 10*time.Second)
	if got[0].Name != "user.live" || got[0].Revision != live.Revision {
		t.Errorf("live event %+v", got[0])
	}
	wcancel()
	// The channel closes once the context ends.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel still open 10s after its context ended")
		}
	}
}

func testWatchConcurrent(t *testing.T, s registry.Store) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	start, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, start)
	const writers, each = 4, 25
	var wg sync.WaitGroup
	acked := make(chan int64, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e, err := s.Create(ctx, Mailbox(fmt.Sprintf("user.c%d.m%02d", w, i), "be1", "default"))
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				acked <- e.Revision
			}
		}()
	}
	wg.Wait()
	close(acked)
	want := map[int64]bool{}
	for r := range acked {
		want[r] = true
	}
	evs := collect(t, ch, writers*each, 30*time.Second)
	last := start
	for _, ev := range evs {
		if ev.Revision < last {
			t.Fatalf("revision went back: %d after %d", ev.Revision, last)
		}
		last = ev.Revision
		if !want[ev.Revision] {
			t.Fatalf("event at revision %d (%s) was not an acknowledged write, or came twice", ev.Revision, ev.Name)
		}
		delete(want, ev.Revision)
	}
	if len(want) != 0 {
		t.Fatalf("%d acknowledged writes missing from the watch", len(want))
	}
}

// testWatchPrev: every change written through the store carries the entry
// it replaced or deleted (what a PARTIAL-UPDATE client of the old server
// needs to hear of a move or a delete); a create carries none.
func testWatchPrev(t *testing.T, s registry.Store) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	from, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := mustCreate(t, s, Mailbox("user.mover", "A", "p"))
	moved := c
	moved.SetPrimary(registry.Location{Server: "B", Partition: "p"})
	m, err := s.Update(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "user.mover", m.Revision); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, s.Watch(ctx, from), 3, 10*time.Second)
	if evs[0].Prev != nil {
		t.Errorf("create carries Prev %+v", evs[0].Prev)
	}
	if p := evs[1].Prev; p == nil || p.Primary().Server != "A" || p.Revision != c.Revision {
		t.Errorf("move A->B: Prev %+v, want the entry on A at revision %d", p, c.Revision)
	}
	if evs[1].Entry.Primary().Server != "B" {
		t.Errorf("move: entry %+v", evs[1].Entry)
	}
	if p := evs[2].Prev; evs[2].Type != registry.EventDelete || p == nil || p.Primary().Server != "B" || p.Revision != m.Revision {
		t.Errorf("delete: %+v, want a delete whose Prev is the entry on B at revision %d", evs[2], m.Revision)
	}
}

// testWatchProgress: every backend's watches confirm their progress when
// asked (registry.ProgressRequester). A watch that has delivered every
// change sends an EventProgress at or beyond the store's revision, also
// when the latest revisions carry no mailbox change (a slot write), and a
// change written before the request comes before the confirmation.
func testWatchProgress(t *testing.T, s registry.Store) {
	pr, ok := s.(registry.ProgressRequester)
	if !ok {
		t.Fatalf("%T does not implement registry.ProgressRequester", s)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	from, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Watch(ctx, from)
	// wait for progress: the events before it, in order, and its revision
	progress := func(atLeast int64) []registry.Event {
		t.Helper()
		var changes []registry.Event
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev, ok := <-w:
				if !ok {
					t.Fatalf("watch closed after %d changes", len(changes))
				}
				if ev.Err != nil {
					t.Fatalf("watch error: %v", ev.Err)
				}
				if ev.Type != registry.EventProgress {
					changes = append(changes, ev)
					continue
				}
				if ev.Revision >= atLeast {
					return changes
				}
			case <-deadline:
				t.Fatalf("no progress at or beyond revision %d within 10 s (%d changes came)", atLeast, len(changes))
			}
		}
	}
	c := mustCreate(t, s, Mailbox("user.progress", "A", "p"))
	sl, err := s.CreateSlot(ctx, registry.Slot{Name: "progress", State: registry.SlotLegacy, Locations: []registry.Location{{Server: "A"}}})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev < sl.Revision || rev < c.Revision {
		t.Fatalf("Revision %d is older than the writes just made (%d, %d)", rev, c.Revision, sl.Revision)
	}
	promised, err := pr.RequestProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if promised < rev {
		t.Fatalf("RequestProgress promised revision %d, older than the store's %d before it", promised, rev)
	}
	if got := progress(promised); len(got) != 1 || got[0].Name != "user.progress" || got[0].Revision != c.Revision {
		t.Fatalf("before the progress: %+v, want the one create at %d", got, c.Revision)
	}
	// Idle: asked again with nothing new, the watch confirms again.
	if promised, err = pr.RequestProgress(ctx); err != nil {
		t.Fatal(err)
	}
	if got := progress(promised); len(got) != 0 {
		t.Fatalf("changes out of nowhere: %+v", got)
	}
}
