package registry_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
	"github.com/murderkit/murderkit/registry/registrytest"
)

func TestGCLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(ctx, registrytest.Mailbox("user.x", "be1", "default")); err != nil {
		t.Fatal(err)
	}
	tomb, err := s.Delete(ctx, "user.x", 0)
	if err != nil {
		t.Fatal(err)
	}
	const age = 200 * time.Millisecond
	gctx, gcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { registry.GCLoop(gctx, s, age, 10*time.Millisecond, nil, nil); close(done) }()
	var held time.Duration // how long the tombstone was kept, as first seen gone
	eventually.True(t, 10*time.Second, "the GC loop removes the tombstone", func() bool {
		_, err := s.GetTombstone(ctx, "user.x")
		held = time.Since(tomb.Time)
		return errors.Is(err, registry.ErrNotFound)
	})
	if held < age {
		t.Fatalf("tombstone removed after %v, younger than its age %v", held, age)
	}
	gcancel()
	<-done
}
