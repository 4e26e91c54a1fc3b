package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/registrytest"
)

// Concurrent writes of different names go out in groups; every write gets
// the answer it would have got alone, also when a group fails because one
// of its writes was stale, and what is stored is exactly what succeeded.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	url := sharedCluster(t).URL(fmt.Sprintf("/group%d", prefixN.Add(1)), "")
	open := func() *etcd.Store {
		st, err := registry.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st.(*etcd.Store)
	}
	s, other := open(), open()
	const n = 48
	created := make([]registry.Entry, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e, err := s.Create(ctx, registrytest.Mailbox(fmt.Sprintf("user.g%02d", i), "be1", "default", "anyone", "lr"))
			if err != nil {
				t.Errorf("create %d: %v", i, err)
			}
			created[i] = e
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	groups, grouped, _ := etcd.GroupStats(s)
	if groups == 0 {
		t.Fatalf("%d concurrent creates went out one by one", n)
	}
	t.Logf("creates: %d writes, %d of them in %d groups", n, grouped, groups)

	// Every third name is then changed through another client: this
	// store's updates of those are stale although its cache does not know
	// it, so they fail inside their group; they alone must fail, with
	// ErrConflict, and the rest must apply.
	for i := 0; i < n; i += 3 {
		e := created[i]
		e.Partition, e.Locations = "other", nil
		if _, err := other.Update(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			e := created[i]
			e.Partition, e.Locations = "p2", nil
			_, errs[i] = s.Update(ctx, e)
		})
	}
	wg.Wait()
	for i, err := range errs {
		got, gerr := s.Get(ctx, created[i].Name)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if i%3 == 0 {
			if !errors.Is(err, registry.ErrConflict) || got.Partition != "other" {
				t.Errorf("stale update %d: %v, stored partition %q; want a conflict and nothing stored", i, err, got.Partition)
			}
			continue
		}
		if err != nil || got.Partition != "p2" {
			t.Errorf("update %d: %v, stored partition %q", i, err, got.Partition)
		}
	}
	_, _, failed := etcd.GroupStats(s)
	t.Logf("updates: %d groups failed and went one by one", failed)
	v, err := s.Visible(ctx, "nobody", nil)
	if err != nil || len(v) != n {
		t.Fatalf("Visible for anyone: %d names, %v; want %d (index rows written with the groups)", len(v), err, n)
	}
}
