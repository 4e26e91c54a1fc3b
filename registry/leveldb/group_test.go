package leveldb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// TestGroupCommit: 16 concurrent writers (synced, on disk) each create,
// update (CAS) and race on one shared name; the writes are merged into
// fewer leveldb writes, every CAS check still holds, exactly one creator
// of the shared names wins, and the change log is gap-free and in
// revision order.
func TestGroupCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "reg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers, per = 16, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[string]int{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				e := registry.Entry{}
				e.Name = fmt.Sprintf("user.w%02d.f%03d", w, i)
				e.Server, e.Partition = "be1", "default"
				e.ACL = mboxlist.ACL{{ID: fmt.Sprintf("w%02d", w), Rights: "lrs"}}
				got, err := s.Create(ctx, e)
				if err != nil {
					t.Error(err)
					return
				}
				got.ACL = append(got.ACL, mboxlist.ACLItem{ID: "anyone", Rights: "lr"})
				if _, err := s.Update(ctx, got); err != nil {
					t.Error(err)
					return
				}
				// A stale revision must still be refused.
				if _, err := s.Update(ctx, got); !errors.Is(err, registry.ErrConflict) {
					t.Errorf("stale update of %s: %v, want ErrConflict", got.Name, err)
					return
				}
				shared := registry.Entry{}
				shared.Name = fmt.Sprintf("shared.s%03d", i)
				shared.Server, shared.Partition = "be1", "default"
				_, err = s.Create(ctx, shared)
				switch {
				case err == nil:
					mu.Lock()
					wins[shared.Name]++
					mu.Unlock()
				case !errors.Is(err, registry.ErrExists):
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range per {
		if n := wins[fmt.Sprintf("shared.s%03d", i)]; n != 1 {
			t.Errorf("shared.s%03d created %d times", i, n)
		}
	}
	want := int64(writers*per*2 + per)
	rev, err := s.Revision(ctx)
	if err != nil || rev != want {
		t.Fatalf("revision %d, %v; want %d", rev, err, want)
	}
	s.mu.Lock()
	groups := s.groups
	s.mu.Unlock()
	t.Logf("%d writes in %d synced leveldb writes", want, groups)
	if groups >= want {
		t.Errorf("%d writes took %d leveldb writes: nothing was grouped", want, groups)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	ch := s.Watch(wctx, 0)
	for r := int64(1); r <= want; r++ {
		ev, ok := <-ch
		if !ok || ev.Err != nil {
			t.Fatalf("watch at %d: %v %v", r, ok, ev.Err)
		}
		if ev.Revision != r {
			t.Fatalf("change log: got revision %d, want %d", ev.Revision, r)
		}
	}
	n, err := s.Count(ctx, "")
	if err != nil || n != writers*per+per {
		t.Fatalf("count %d, %v", n, err)
	}

	// All writers released at once on one name: their Creates land in
	// the same groups, and only the pending state tells them apart.
	for round := range 20 {
		start := make(chan struct{})
		var won sync.WaitGroup
		var mu sync.Mutex
		n := 0
		for range writers {
			won.Add(1)
			go func() {
				defer won.Done()
				<-start
				e := registry.Entry{}
				e.Name = fmt.Sprintf("shared.race%02d", round)
				e.Server, e.Partition = "be1", "default"
				_, err := s.Create(ctx, e)
				switch {
				case err == nil:
					mu.Lock()
					n++
					mu.Unlock()
				case !errors.Is(err, registry.ErrExists):
					t.Error(err)
				}
			}()
		}
		close(start)
		won.Wait()
		if n != 1 {
			t.Fatalf("round %d: %d creators of one name succeeded", round, n)
		}
	}
}

// TestGroupCommitFailure: the database fails (closed under the writers)
// while groups are open and being written. Every acknowledged write is on
// disk after a reopen, none of the refused ones is, and the change log is
// gap-free up to the stored revision.
func TestGroupCommitFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "reg")
	s, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := map[string]bool{}
	failed := map[string]bool{}
	var seq atomic.Int64
	started := make(chan struct{}, writers*1000)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				e := registry.Entry{}
				e.Name = fmt.Sprintf("user.g%06d", seq.Add(1))
				e.Server, e.Partition = "be1", "default"
				_, err := s.Create(ctx, e)
				mu.Lock()
				if err == nil {
					ok[e.Name] = true
				} else {
					failed[e.Name] = true
				}
				mu.Unlock()
				started <- struct{}{}
				if err != nil {
					return
				}
			}
		}()
	}
	for range 200 {
		<-started
	}
	s.db.Close() // the failure: every later leveldb write errs
	wg.Wait()
	s.Close()
	if len(ok) < 200 || len(failed) == 0 {
		t.Fatalf("%d acknowledged, %d refused: the failure did not happen mid-run", len(ok), len(failed))
	}
	s, err = Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rev, _ := s.Revision(ctx)
	if rev != int64(len(ok)) {
		t.Errorf("revision %d after reopen, %d writes acknowledged", rev, len(ok))
	}
	for n := range ok {
		if _, err := s.Get(ctx, n); err != nil {
			t.Errorf("acknowledged %s: %v", n, err)
		}
	}
	for n := range failed {
		if _, err := s.Get(ctx, n); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("refused %s: %v, want not found", n, err)
		}
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	ch := s.Watch(wctx, 0)
	for r := int64(1); r <= rev; r++ {
		ev := <-ch
		if ev.Err != nil || ev.Revision != r {
			t.Fatalf("change log at %d: %+v", r, ev)
		}
	}
	t.Logf("%d acknowledged, %d refused after the failure", len(ok), len(failed))
}
