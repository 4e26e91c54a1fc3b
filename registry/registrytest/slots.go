package registrytest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/registry"
)

func testSlots(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	if _, err := s.GetSlot(ctx, "s1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetSlot(absent) = %v", err)
	}
	sl := registry.Slot{Name: "s1", State: registry.SlotLegacy, Locations: []registry.Location{{Server: "be1"}, {Server: "be2", Partition: "p2"}}}
	c, err := s.CreateSlot(ctx, sl)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateSlot(ctx, sl)
	wantErr(t, "second CreateSlot", err, registry.ErrExists)
	_, err = s.CreateSlot(ctx, registry.Slot{Name: "bad", State: "nonsense"})
	wantErr(t, "CreateSlot(bad state)", err, registry.ErrInvalid)
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	if err := c.Transition(registry.SlotMirrored, "op", "follow started", now); err != nil {
		t.Fatal(err)
	}
	u, err := s.UpdateSlot(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if u.Revision <= c.Revision {
		t.Fatalf("UpdateSlot revision %d", u.Revision)
	}
	_, err = s.UpdateSlot(ctx, c) // stale
	wantErr(t, "stale UpdateSlot", err, registry.ErrConflict)
	if err := u.Transition(registry.SlotCutover, "op", "", now); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("mirrored→cutover allowed: %v", err)
	}
	g, err := s.GetSlot(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := registry.Slot{Name: "s1", State: registry.SlotMirrored, Revision: u.Revision,
		Locations: sl.Locations,
		History:   []registry.SlotTransition{{From: registry.SlotLegacy, To: registry.SlotMirrored, Time: now, By: "op", Note: "follow started"}}}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("GetSlot (-want +got):\n%s", diff)
	}
	if !g.Contains(registry.Location{Server: "be1", Partition: "any"}) || g.Contains(registry.Location{Server: "be2", Partition: "default"}) {
		t.Errorf("Contains wrong for %+v", g.Locations)
	}
	if _, err := s.CreateSlot(ctx, registry.Slot{Name: "s0", State: registry.SlotLegacy}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListSlots(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "s0" || all[1].Name != "s1" {
		t.Fatalf("ListSlots = %+v, %v", all, err)
	}
	err = s.DeleteSlot(ctx, "s1", c.Revision)
	wantErr(t, "stale DeleteSlot", err, registry.ErrConflict)
	if err := s.DeleteSlot(ctx, "s1", u.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSlot(ctx, "s1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetSlot after delete = %v", err)
	}
}
