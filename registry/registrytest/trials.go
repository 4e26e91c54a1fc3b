package registrytest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/murderkit/murderkit/registry"
)

// RunCreateTrials runs n trials of two concurrent creators of one name on
// different servers: exactly one must succeed, the other must get
// ErrExists, and the stored location must be the winner's.
func RunCreateTrials(t *testing.T, s registry.Store, n int) {
	ctx := ctxT(t)
	for i := range n {
		name := fmt.Sprintf("user.race%06d", i)
		var wg sync.WaitGroup
		var errs [2]error
		var got [2]registry.Entry
		gate := make(chan struct{})
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				got[k], errs[k] = s.Create(ctx, Mailbox(name, fmt.Sprintf("be%d", k), "default"))
			}()
		}
		close(gate)
		wg.Wait()
		ok := 0
		winner := -1
		for k := range 2 {
			switch {
			case errs[k] == nil:
				ok++
				winner = k
			case !errors.Is(errs[k], registry.ErrExists):
				t.Fatalf("trial %d: creator %d failed with %v, want success or ErrExists", i, k, errs[k])
			}
		}
		if ok != 1 {
			t.Fatalf("trial %d: %d creators succeeded, want exactly 1", i, ok)
		}
		stored, err := s.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Server != fmt.Sprintf("be%d", winner) || stored.Revision != got[winner].Revision {
			t.Fatalf("trial %d: stored %s@%d, winner be%d@%d", i, stored.Server, stored.Revision, winner, got[winner].Revision)
		}
	}
	t.Logf("%d two-creator trials: exactly one success each", n)
}
