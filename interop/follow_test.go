package interop

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
)

// follower keeps the state an UPDATE stream describes.
type follower struct {
	mu      sync.Mutex
	state   map[string]mupdate.Mailbox
	synced  chan struct{}
	touched map[string]int // live events per name
}

func (f *follower) apply(ev mupdateclient.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev.Type {
	case mupdateclient.EventSynced:
		close(f.synced)
		return nil
	case mupdateclient.EventMailbox:
		f.state[ev.Name] = ev.Mailbox
	case mupdateclient.EventDelete:
		delete(f.state, ev.Name)
	}
	if !ev.Initial {
		f.touched[ev.Name]++
	}
	return nil
}

func (f *follower) snapshot() map[string]mupdate.Mailbox {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.state)
}

func listAll(ctx context.Context, t *testing.T, addr string) map[string]mupdate.Mailbox {
	t.Helper()
	c, err := mupdateclient.Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "admin", "adminpw", "PLAIN"); err != nil {
		t.Fatal(err)
	}
	m := map[string]mupdate.Mailbox{}
	if err := c.List(ctx, "", func(mb mupdate.Mailbox) error { m[mb.Name] = mb; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

// Proof 4 of docs/interop.md ("What is proven"): our MUPDATE client follows a real Cyrus master (the
// full list, then live changes) while a real backend's users create,
// rename, delete and change ACLs; after a NOOP (which makes Cyrus flush its
// 5-second batch) the followed state equals the master's list, and every
// mailbox the script touched produced a live event.
func TestClientFollowsRealMaster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m := murdertest.StartMurder(t, murdertest.MurderOptions{Seed: murdertest.LabSeed, NoFrontend: true})

	c, err := mupdateclient.Dial(ctx, m.MupdateAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "murder", "murderpw", ""); err != nil { // Cyrus's choice: PLAIN here
		t.Fatal(err)
	}
	f := &follower{state: map[string]mupdate.Mailbox{}, synced: make(chan struct{}), touched: map[string]int{}}
	upd := make(chan error, 1)
	uctx, ucancel := context.WithCancel(ctx)
	go func() { upd <- c.Update(uctx, nil, f.apply) }()
	select {
	case <-f.synced:
	case err := <-upd:
		t.Fatalf("UPDATE ended before the full list: %v", err)
	case <-ctx.Done():
		t.Fatal("no full list within the test's time")
	}
	initial := f.snapshot()
	if diff := cmp.Diff(listAll(ctx, t, m.MupdateAddr), initial); diff != "" {
		t.Fatalf("full list vs the master's LIST (-master +followed):\n%s", diff)
	}
	if len(initial) != 6 {
		t.Fatalf("full list has %d entries, want the lab's 6", len(initial))
	}

	m.Backend.RunSteps(t, changes)
	if err := c.Noop(ctx); err != nil {
		t.Fatalf("NOOP while streaming: %v", err)
	}
	final := listAll(ctx, t, m.MupdateAddr)
	if diff := cmp.Diff(final, f.snapshot()); diff != "" {
		t.Errorf("after the changes and a NOOP, master (-) vs followed (+):\n%s", diff)
	}
	touched := map[string]bool{"user.alice.Projects": true, "user.alice.Archive": true, "user.bob.Old": true, "shared.team": true}
	for n := range final {
		if _, ok := initial[n]; !ok {
			touched[n] = true
		}
	}
	f.mu.Lock()
	for n := range touched {
		if f.touched[n] == 0 {
			t.Errorf("no live event for %s (events: %v)", n, f.touched)
		}
	}
	f.mu.Unlock()
	if n := len(final); n != 13 { // 6 seeded + 7 from the script
		t.Errorf("master holds %d entries after the script: %v", n, slices.Sorted(maps.Keys(final)))
	}

	// a live change after the first flush, seen without a NOOP within
	// Cyrus's batching interval (5 s)
	s := m.Backend.IMAPAs(t, "alice")
	if err := s.Create("INBOX.Later"); err != nil {
		t.Fatal(err)
	}
	if err := murdertest.Eventually(15*time.Second, func() error {
		if _, ok := f.snapshot()["user.alice.Later"]; !ok {
			return context.DeadlineExceeded
		}
		return nil
	}); err != nil {
		t.Errorf("user.alice.Later never streamed without a NOOP")
	}
	ucancel()
	if err := <-upd; err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Update returned %v", err)
	}
}
