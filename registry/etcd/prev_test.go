package etcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/registrytest"
)

// TestWatchCarriesPrev: etcd's watch gives every change the entry it
// replaced or deleted (what a PARTIAL-UPDATE client of the old server needs
// to hear about a move or a delete made through another bridge); a create
// has none.
func TestWatchCarriesPrev(t *testing.T) {
	s := newStore(t)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	from, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Create(ctx, registrytest.Mailbox("user.mover", "A", "p"))
	if err != nil {
		t.Fatal(err)
	}
	moved := c
	moved.SetPrimary(registry.Location{Server: "B", Partition: "p"})
	m, err := s.Update(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "user.mover", m.Revision); err != nil {
		t.Fatal(err)
	}
	w := s.Watch(ctx, from)
	var evs []registry.Event
	for len(evs) < 3 {
		ev, ok := <-w
		if !ok || ev.Err != nil {
			t.Fatalf("watch ended after %d events: %v", len(evs), ev.Err)
		}
		evs = append(evs, ev)
	}
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
