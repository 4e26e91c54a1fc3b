package leveldb_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
	"github.com/murderkit/murderkit/registry/registrytest"
)

func newStore(t *testing.T) registry.Store {
	s, err := leveldb.Open(context.Background(), filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { registrytest.Run(t, newStore) }

// TestCreateTrials: `make trials` runs it with MURDERKIT_TRIALS=1000.
func TestCreateTrials(t *testing.T) {
	s := newStore(t)
	defer s.Close()
	registrytest.RunCreateTrials(t, s, registrytest.Trials(50))
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "reg")
	s, err := registry.Open(ctx, "leveldb://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, registrytest.Mailbox("user.x", "be1", "default")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, bad := range []string{"leveldb://host/x", "leveldb://", "nosuch:///x"} {
		if _, err := registry.Open(ctx, bad); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	// Reopen: the data and the revision survive.
	s2, err := registry.Open(ctx, "leveldb://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	e, err := s2.Get(ctx, "user.x")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s2.Revision(ctx); r != e.Revision || r == 0 {
		t.Errorf("revision after reopen %d, entry %d", r, e.Revision)
	}
}

// TestWatchResumesAfterRestart: a bridge that stopped at revision R reopens
// the registry and gets exactly the changes after R from the change log.
func TestWatchResumesAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "reg")
	s, err := leveldb.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var revs []int64
	for _, n := range []string{"user.a", "user.b", "user.c"} {
		e, err := s.Create(ctx, registrytest.Mailbox(n, "be1", "default"))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, e.Revision)
	}
	tomb, err := s.Delete(ctx, "user.a", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = leveldb.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch := s.Watch(wctx, revs[0])
	var got []string
	for len(got) < 3 {
		ev, ok := <-ch
		if !ok || ev.Err != nil {
			t.Fatalf("watch ended after %q: %v", got, ev.Err)
		}
		got = append(got, fmt.Sprintf("%s %s@%d", ev.Type, ev.Name, ev.Revision))
	}
	want := []string{
		fmt.Sprintf("put user.b@%d", revs[1]),
		fmt.Sprintf("put user.c@%d", revs[2]),
		fmt.Sprintf("delete user.a@%d", tomb.Revision),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after restart, Watch(%d) = %q, want %q", revs[0], got, want)
	}
}
