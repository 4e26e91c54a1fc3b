package etcd_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	"github.com/murderkit/murderkit/registry/registrytest"
)

// TestLeaderKill starts its own 3-member cluster (separate etcd processes),
// streams creates through a client that knows every member, kill -9s the
// leader in the middle, and checks: every acknowledged write is still there;
// writes succeed again within 2 s of the new leader's election; a watch on
// each survivor delivers every change exactly once, in order.
func TestLeaderKill(t *testing.T) {
	c := etcdtest.Start(t, 3, &etcdtest.Options{FirstIP: 31})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const prefix = "/failover"
	w, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start, err := w.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// One watcher per member, each connected to that member only.
	type watchLog struct {
		mu   sync.Mutex
		evs  []registry.Event
		errs []error
	}
	logs := make([]*watchLog, len(c.Members))
	for i, m := range c.Members {
		s, err := etcd.Open(ctx, []string{m.ClientURL}, &etcd.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		logs[i] = &watchLog{}
		go func(l *watchLog, ch <-chan registry.Event) {
			for ev := range ch {
				l.mu.Lock()
				if ev.Err != nil {
					l.errs = append(l.errs, ev.Err)
				} else if ev.Type != registry.EventProgress {
					l.evs = append(l.evs, ev)
				}
				l.mu.Unlock()
			}
		}(logs[i], s.Watch(ctx, start))
	}

	const before, after = 150, 150
	acked := map[string]int64{}
	var failed []string
	n := 0
	write := func() (bool, time.Time) {
		name := fmt.Sprintf("user.k%05d", n)
		n++
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
		defer wcancel()
		e, err := w.Create(wctx, registrytest.Mailbox(name, "be1", "default", "anyone", "lr"))
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			return false, time.Time{}
		}
		acked[name] = e.Revision
		return true, time.Now()
	}
	for range before {
		if ok, _ := write(); !ok {
			t.Fatalf("write before the kill failed: %v", failed)
		}
	}
	killedAt := time.Now()
	c.Kill(leader)
	t.Logf("killed leader m%d (kill -9) after %d acknowledged writes", leader, len(acked))

	// Keep writing; meanwhile find out when a survivor became leader.
	elected := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			if l, err := c.Leader(ctx); err == nil && l != leader {
				elected <- time.Now()
				return
			}
			// a steady 20 ms poll (not internal/eventually, whose pauses
			// grow): the election's time is measured
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var firstOK time.Time
	okAfter := 0
	for okAfter < after && ctx.Err() == nil {
		if ok, at := write(); ok {
			if firstOK.IsZero() {
				firstOK = at
			}
			okAfter++
		}
	}
	var electedAt time.Time
	select {
	case electedAt = <-elected:
	case <-time.After(10 * time.Second):
		t.Fatal("no new leader within 10 s")
	}
	resume := firstOK.Sub(electedAt)
	t.Logf("new leader %v after the kill; first acknowledged write %v after the election (%d writes failed meanwhile)",
		electedAt.Sub(killedAt).Round(time.Millisecond), resume.Round(time.Millisecond), len(failed))
	if resume > 2*time.Second {
		t.Errorf("writes resumed %v after the new leader's election, want < 2s", resume)
	}

	// Every acknowledged write is there, at its revision.
	var all []registry.Entry
	if _, err := w.List(ctx, "", func(e registry.Entry) error { all = append(all, e); return nil }); err != nil {
		t.Fatal(err)
	}
	have := map[string]int64{}
	for _, e := range all {
		have[e.Name] = e.Revision
	}
	for name, rev := range acked {
		if have[name] != rev {
			t.Errorf("acknowledged write %s@%d: registry has revision %d", name, rev, have[name])
		}
	}
	// A write reported as failed may still have been applied (the answer was
	// lost with the leader); the watches must show exactly what the registry
	// holds.
	deadline := time.Now().Add(10 * time.Second)
	for i, l := range logs {
		if i == leader {
			continue
		}
		eventually.WaitTrue(time.Until(deadline), func() bool { // what came is checked below
			l.mu.Lock()
			defer l.mu.Unlock()
			return len(l.evs) >= len(all)
		})
		l.mu.Lock()
		seen := map[string]bool{}
		var last int64
		for _, ev := range l.evs {
			if ev.Revision <= last {
				t.Errorf("survivor m%d: revision %d after %d (duplicate or out of order)", i, ev.Revision, last)
			}
			last = ev.Revision
			if seen[ev.Name] {
				t.Errorf("survivor m%d: %s delivered twice", i, ev.Name)
			}
			seen[ev.Name] = true
			if have[ev.Name] != ev.Revision {
				t.Errorf("survivor m%d: event %s@%d not in the registry (has %d)", i, ev.Name, ev.Revision, have[ev.Name])
			}
		}
		if len(l.evs) != len(all) {
			t.Errorf("survivor m%d: watch delivered %d changes, registry holds %d (errors: %v)", i, len(l.evs), len(all), l.errs)
		}
		t.Logf("survivor m%d: watch delivered %d changes in order, none twice, none missing", i, len(l.evs))
		l.mu.Unlock()
	}
	if len(acked) != before+after {
		t.Errorf("%d writes acknowledged, want %d", len(acked), before+after)
	}
}
