package registrytest

import (
	"errors"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry"
)

func testTombstones(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	e := Mailbox("user.bob.Old", "be1", "default", "bob", "lrswipkxtecdan")
	e.UniqueID = "u-old"
	e.UIDValidity = 77
	c := mustCreate(t, s, e)
	tomb, err := s.Delete(ctx, e.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := s.GetTombstone(ctx, e.Name)
	if err != nil || gt.UniqueID != "u-old" || gt.UIDValidity != 77 || gt.Revision != tomb.Revision || gt.Time.IsZero() {
		t.Fatalf("GetTombstone = %+v, %v", gt, err)
	}
	// A replay of the state read before the delete does not resurrect it,
	// neither by Create nor by Put.
	stale := c
	_, err = s.Create(ctx, stale)
	wantErr(t, "Create(replayed state)", err, registry.ErrTombstoned)
	if !errors.Is(err, registry.ErrConflict) {
		t.Errorf("ErrTombstoned is not an ErrConflict: %v", err)
	}
	_, err = s.Put(ctx, stale)
	wantErr(t, "Put(replayed state)", err, registry.ErrTombstoned)
	if _, err := s.Get(ctx, e.Name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("replay resurrected the mailbox: %v", err)
	}
	// A fresh create after the delete succeeds and clears the tombstone.
	fresh := Mailbox("user.bob.Old", "be2", "default", "bob", "lrswipkxtecdan")
	f := mustCreate(t, s, fresh)
	if f.Revision <= tomb.Revision {
		t.Fatalf("fresh create revision %d not after tombstone %d", f.Revision, tomb.Revision)
	}
	if _, err := s.GetTombstone(ctx, e.Name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("tombstone still there after a fresh create: %v", err)
	}
	// A state read after the delete (revision ≥ tombstone) is no replay.
	if _, err := s.Delete(ctx, e.Name, f.Revision); err != nil {
		t.Fatal(err)
	}
	tomb2, _ := s.GetTombstone(ctx, e.Name)
	later := Mailbox("user.bob.Old", "be3", "default")
	later.Revision = tomb2.Revision
	if _, err := s.Put(ctx, later); err != nil {
		t.Fatalf("Put read at the tombstone's revision = %v", err)
	}
}

func testGC(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	for _, n := range []string{"user.g1", "user.g2"} {
		mustCreate(t, s, Mailbox(n, "be1", "default"))
		if _, err := s.Delete(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.GCTombstones(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("GC of young tombstones removed %d, %v", n, err)
	}
	n, err = s.GCTombstones(ctx, time.Now().Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("GC removed %d, %v; want 2", n, err)
	}
	if _, err := s.GetTombstone(ctx, "user.g1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("tombstone survived GC: %v", err)
	}
}
