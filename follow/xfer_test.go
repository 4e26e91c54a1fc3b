package follow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
)

func regEntry(name string, loc registry.Location, reserved bool) registry.Entry {
	e := entry(name)
	if reserved {
		e.Type |= mboxlist.FlagReserve
	}
	return registry.Entry{Locations: []registry.Location{loc}, Entry: e}
}

// Cyrus's XFER out of a cut-over slot: the source (on the bridge) leaves
// the mailbox reserved at its location in the slot, the destination (on the
// old master) activates it at its own. The follower takes the master's
// record over the reservation, in the full list and live; a mailbox active
// in the slot is never overwritten by the master.
func TestFollowerTakesXferOutOfCutoverSlot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := startMaster(t, ctx)
	in := registry.Location{Server: "be1", Partition: "default"}
	m.write(t,
		act("user.y", "be2!default", "y\tlrs\t"),
		act("user.z", "be2!default", "z\tlrs\t"),
	)
	st := openStore(t)
	if _, err := st.CreateSlot(ctx, registry.Slot{Name: "s1", State: registry.SlotCutover, Locations: []registry.Location{{Server: "be1"}}}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []registry.Entry{regEntry("user.y", in, true), regEntry("user.z", in, false), regEntry("user.v", in, true)} {
		if _, err := st.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	f, err := follow.New(follow.Config{Addr: m.addr, User: "murder", Password: "murderpw", Store: st, Logger: quiet(),
		NoopInterval: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, SlotTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	fctx, fstop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() { fstop(); <-done }()
	if !eventually.WaitTrue(10*time.Second, func() bool { return f.Status().Synced }) {
		t.Fatal("never synced")
	}
	m.write(t, act("user.v", "be2!default", "v\tlrs\t"))
	want := map[string]string{"user.y": "be2!default", "user.v": "be2!default", "user.z": "be1!default"}
	if !eventually.WaitTrue(10*time.Second, func() bool {
		for n, loc := range want {
			e, err := st.Get(ctx, n)
			if err != nil || e.Primary().String() != loc || (loc == "be2!default" && e.Type.Has(mboxlist.FlagReserve)) {
				return false
			}
		}
		return true
	}) {
		got := regList(t, st)
		t.Fatalf("registry %v, want user.y and user.v active on be2 (from the master), user.z active on be1 (the bridge's)", got)
	}
}

// Cyrus's XFER into a cut-over slot: the source (on the old master)
// DEACTIVATEs the mailbox there; the destination (on the bridge) ACTIVATEs
// it in the slot, before the follower may have the master's reservation
// (Cyrus batches updates for 5 s): the Guard asks the master and accepts.
// While the master has the mailbox active, the same ACTIVATE is refused.
func TestGuardTakesXferIntoCutoverSlot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := startMaster(t, ctx)
	m.write(t, act("user.x", "be2!default", "x\tlrs\t"))
	st := openStore(t)
	if _, err := st.CreateSlot(ctx, registry.Slot{Name: "s1", State: registry.SlotCutover, Locations: []registry.Location{{Server: "be1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, regEntry("user.x", registry.Location{Server: "be2", Partition: "default"}, false)); err != nil {
		t.Fatal(err)
	}
	f, err := follow.New(follow.Config{Addr: m.addr, User: "murder", Password: "murderpw", Store: st, Logger: quiet(), SlotTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	g := f.Guard(bridge.New(st))
	if err := g.Write(ctx, act("user.x", "be1!default", "x\tlrs\t")); !errors.Is(err, follow.ErrFollowing) {
		t.Fatalf("ACTIVATE in the slot of a mailbox the master has active elsewhere = %v, want refused", err)
	}
	m.write(t, mupdate.Request{Op: mupdate.OpDeactivate, Name: "user.x", Location: "be2!default"})
	if err := g.Write(ctx, act("user.x", "be1!default", "x\tlrs\t")); err != nil {
		t.Fatalf("ACTIVATE in the slot of a mailbox the master has reserved (XFER) = %v, want accepted", err)
	}
	if e, err := st.Get(ctx, "user.x"); err != nil || e.Primary().String() != "be1!default" {
		t.Fatalf("registry user.x = %+v %v, want on be1", e, err)
	}
}
