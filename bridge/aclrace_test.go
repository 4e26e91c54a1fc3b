package bridge_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/internal/stress"
	"github.com/murderkit/murderkit/mupdate"
)

// TestNegativeACLNoLostUpdate drives the write path the twin murders saw
// lose a "-anyone" entry under a load average above 30 (docs/twins.md,
// "Open, not yet explained"): one mailbox gets ACTIVATEs in sequence, each
// after the previous one's answer (as a backend sends them, one SETACL at a
// time), alternating ACLs with "anyone", "-anyone" and users, while other
// goroutines write other mailboxes (so that the leveldb store's group
// commit lingers and groups several writers) and CPU hogs take both cores.
// After every answered write the registry must hold exactly that ACL, and
// the change feed (what the bridge streams to frontends) must end on the
// last one. MURDERKIT_ACLRACE_ROUNDS sets the rounds (default 300).
func TestNegativeACLNoLostUpdate(t *testing.T) {
	rounds := stress.Rounds(t, 300)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := bridge.New(openStore(t))
	const loc = "be1!default"
	acls := []string{
		"kim@example.org\tlrswipkxtecda\tanyone\tlrswipkxtecda\t",
		"kim@example.org\tlrswipkxtecda\tanyone\tlrswipkxtecda\t-anyone\tlrs\t",
		"kim@example.org\tlrswipkxtecda\tanyone\tlrs\t",
		"kim@example.org\tlrswipkxtecda\tanyone\tlrs\t-anyone\tl\t",
		"kim@example.org\tlrswipkxtecda\t-anyone\tl\tanyone\tlrs\tbob\tlr\t-bob\tl\t",
	}
	const name = "example.org!user.kim"
	if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: name, Location: loc}); err != nil {
		t.Fatal(err)
	}

	// the last ACL the feed delivered for name
	var fed atomic.Value
	fed.Store("")
	rev0, err := a.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- a.Watch(wctx, rev0, func(c mupdate.Change) error {
			if c.Name == name && c.Cur != nil {
				fed.Store(c.Cur.ACL)
			}
			return nil
		})
	}()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	// CPU hogs: one more than the cores, so that every goroutine waits
	stress.Hog(stop, &wg)
	// other writers: other mailboxes, and other ACLs on the users' others
	var otherErr atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := fmt.Sprintf("example.org!user.kim.f%d", (w*7+i)%5)
				err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: n, Location: loc, ACL: acls[(i+w)%len(acls)]})
				if err != nil {
					otherErr.Store(err)
					return
				}
			}
		}()
	}

	for i := range rounds {
		want := acls[i%len(acls)]
		if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: name, Location: loc, ACL: want}); err != nil {
			t.Fatalf("round %d: ACTIVATE: %v", i, err)
		}
		got, ok, err := a.Lookup(ctx, name)
		if err != nil || !ok {
			t.Fatalf("round %d: lookup: %v %v", i, ok, err)
		}
		if got.ACL != want {
			t.Fatalf("round %d: the registry holds ACL %q after an answered ACTIVATE of %q", i, got.ACL, want)
		}
	}
	close(stop)
	wg.Wait()
	if err, _ := otherErr.Load().(error); err != nil {
		t.Fatalf("other writer: %v", err)
	}
	want := acls[(rounds-1)%len(acls)]
	deadline := time.Now().Add(10 * time.Second)
	for fed.Load().(string) != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := fed.Load().(string); got != want {
		t.Fatalf("the change feed ended on ACL %q, the last ACTIVATE was %q", got, want)
	}
	wcancel()
	<-watchDone
}
