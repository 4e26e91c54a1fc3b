package leveldb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

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
