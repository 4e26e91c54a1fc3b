package interop

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/murderkit/murderkit/internal/murdertest"
)

// Two real backends CREATE the same mailbox at the same moment through
// murder-bridge: Cyrus's RESERVE goes first, the registry's create-if-absent
// lets exactly one win, the other backend's CREATE fails (and Cyrus rolls
// its local mailbox back), and the registry holds the winner's location.
// A mailbox never forks onto two servers.
func TestTwoRealBackendsRaceForOneName(t *testing.T) {
	ours := startOurs(t)
	b1 := murdertest.StartBackend(t, ours.Addr, murdertest.Options{Name: "backend1"})
	b2 := murdertest.StartBackend(t, ours.Addr, murdertest.Options{Name: "backend2"})
	s1, s2 := b1.IMAPAs(t, "admin"), b2.IMAPAs(t, "admin")
	ctx := context.Background()
	for i := range 10 {
		name := fmt.Sprintf("user.race%d", i)
		var wg sync.WaitGroup
		var e1, e2 error
		wg.Add(2)
		go func() { defer wg.Done(); e1 = s1.Create(name) }()
		go func() { defer wg.Done(); e2 = s2.Create(name) }()
		wg.Wait()
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("%s: backend1 %v, backend2 %v: want exactly one success", name, e1, e2)
		}
		winner := b1
		if e2 == nil {
			winner = b2
		}
		e, err := ours.Store.Get(ctx, name)
		if err != nil || e.Server != winner.Servername || len(e.Locations) != 1 {
			t.Fatalf("%s: registry %+v %v, want the winner %s only", name, e, err, winner.Servername)
		}
		// the loser rolled its local mailbox back
		loser := b2
		if winner == b2 {
			loser = b1
		}
		if _, ok := loser.Dump(t)[name]; ok {
			t.Errorf("%s: the losing backend %s kept a local copy", name, loser.Name)
		}
	}
}
