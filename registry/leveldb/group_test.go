package leveldb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
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
