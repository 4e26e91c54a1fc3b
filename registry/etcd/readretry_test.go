package etcd_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	"github.com/murderkit/murderkit/registry/registrytest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestReadsRideOutLeaderKill: on a real 3-member cluster (separate etcd
// processes), readers keep listing (what an UPDATE dump and LIST read),
// getting (FIND), counting, reading the revision and the visible list (a
// read-only transaction, which the etcd client never retries itself) while
// a writer writes, the leader is handed over four times and then kill
// -9ed. No read may fail: one that meets "leader changed" or a lost member
// is sent again until it is answered, and every read still sees every
// entry. Without retryRead, Visible fails ("etcdserver: leader changed",
// "error reading from server: EOF") in every run.
func TestReadsRideOutLeaderKill(t *testing.T) {
	c := etcdtest.Start(t, 3, &etcdtest.Options{FirstIP: 51})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const prefix = "/readretry"
	w, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 300
	var batch []registry.Entry
	for i := range n {
		batch = append(batch, registrytest.Mailbox(fmt.Sprintf("shared.fix.r%04d", i), "be1", "default", "anyone", "lr"))
	}
	if _, err := w.Import(ctx, batch); err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One reader per survivor, each talking to that member only (a
	// frontend's bridge reads through its own member), and one with every
	// endpoint.
	var stores []*etcd.Store
	for i, m := range c.Members {
		if i == leader {
			continue
		}
		s, err := etcd.Open(ctx, []string{m.ClientURL}, &etcd.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	stores = append(stores, w)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, failures atomic.Int64
	var mu sync.Mutex
	var errs []string
	fail := func(format string, args ...any) {
		failures.Add(1)
		mu.Lock()
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	// a writer keeps the leader busy, as backends do
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
			w.Put(wctx, registrytest.Mailbox(fmt.Sprintf("user.w%05d", k), "be1", "default", "bob", "lr"))
			wcancel()
		}
	}()
	for j := range 4 * len(stores) {
		i, s := j%len(stores), stores[j%len(stores)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
				got := 0
				if _, err := s.List(rctx, "shared.fix", func(registry.Entry) error { got++; return nil }); err != nil {
					fail("reader %d: List: %v", i, err)
				} else if got != n {
					fail("reader %d: List saw %d entries, want %d", i, got, n)
				}
				name := fmt.Sprintf("shared.fix.r%04d", k%n)
				if _, err := s.Get(rctx, name); err != nil {
					fail("reader %d: Get %s: %v", i, name, err)
				}
				if _, err := s.Count(rctx, ""); err != nil {
					fail("reader %d: Count: %v", i, err)
				}
				if _, err := s.Revision(rctx); err != nil {
					fail("reader %d: Revision: %v", i, err)
				}
				if v, err := s.Visible(rctx, "someone", nil); err != nil {
					fail("reader %d: Visible: %v", i, err)
				} else if len(v) != n {
					fail("reader %d: Visible saw %d names, want %d", i, len(v), n)
				}
				rcancel()
				reads.Add(5)
			}
		}()
	}
	eventually.True(t, 10*time.Second, "the readers are reading", func() bool { return reads.Load() > 0 })
	// First the leader hands over (etcd's MoveLeader, as an operator's
	// `etcdctl move-leader` or a member's graceful stop does) a few times,
	// among the members that stay; reads in flight meet "leader changed".
	var others []int
	for i := range c.Members {
		if i != leader {
			others = append(others, i)
		}
	}
	// leader -> a -> b -> a -> leader: the member killed below leads again
	moves := []int{others[0], others[1], others[0], leader}
	for round, to := range moves {
		cur, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, id, err := etcdtest.MemberStatus(ctx, c.Members[to].ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Members[cur].ClientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.MoveLeader(ctx, id); err != nil {
			t.Fatalf("move leader m%d -> m%d: %v", cur, to, err)
		}
		cli.Close()
		t.Logf("round %d: leader moved m%d -> m%d", round, cur, to)
		// reads go on under the new leader before the next move
		before := reads.Load()
		eventually.True(t, 10*time.Second, "reads under the new leader", func() bool { return reads.Load() >= before+50 })
	}
	if l, err := c.Leader(ctx); err != nil || l != leader {
		t.Fatalf("leader after the moves: m%d, %v; want m%d", l, err, leader)
	}
	killedAt := time.Now()
	c.Kill(leader)
	// read on until a new leader is there and 2 s more
	eventually.True(t, 30*time.Second, "a new leader after the kill", func() bool {
		l, err := c.Leader(ctx)
		if err == nil && l != leader {
			t.Logf("new leader m%d %v after the kill", l, time.Since(killedAt).Round(time.Millisecond))
			return true
		}
		return false
	})
	time.Sleep(2 * time.Second) // the reads under the new leader: the load, not a synchronisation
	close(stop)
	wg.Wait()
	var retried int64
	for _, s := range stores {
		retried += s.ReadRetries()
	}
	t.Logf("%d reads, %d failed, %d attempts sent again", reads.Load(), failures.Load(), retried)
	if failures.Load() > 0 {
		t.Errorf("%d reads failed across the leader change:\n%v", failures.Load(), errs)
	}
	if reads.Load() < 100 {
		t.Errorf("only %d reads", reads.Load())
	}
}
