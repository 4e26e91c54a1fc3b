package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	"github.com/murderkit/murderkit/registry/registrytest"
)

var (
	clusterOnce sync.Once
	shared      *etcdtest.Cluster
	prefixN     atomic.Int64
)

// sharedCluster is one real 3-member cluster (Debian's etcd, separate
// processes) for the conformance suite; each store gets its own prefix.
func sharedCluster(t *testing.T) *etcdtest.Cluster {
	clusterOnce.Do(func() {
		// Started outside any one test's cleanup: it lives as long as the
		// test binary (members die with it: Pdeathsig).
		shared = etcdtest.Start(&longLived{T: t}, 3, &etcdtest.Options{MaxTxnOps: 128})
	})
	if shared == nil {
		t.Fatal("etcd cluster did not start")
	}
	return shared
}

// longLived keeps the cluster's cleanup out of the first test's cleanup.
type longLived struct{ *testing.T }

func (l *longLived) Cleanup(func()) {}
func (l *longLived) TempDir() string {
	d, err := mkdirTemp()
	if err != nil {
		l.T.Fatal(err)
	}
	return d
}

func newStore(t *testing.T) registry.Store {
	c := sharedCluster(t)
	url := c.URL(fmt.Sprintf("/conf%d", prefixN.Add(1)), "")
	s, err := registry.Open(context.Background(), url)
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

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"etcd:///x", "etcd://127.0.0.1:1,,/x", "etcd://127.0.0.1:2379/x?maxtxnops=2"} {
		if _, err := registry.Open(ctx, bad); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	// Nothing listens there: unavailable, quickly.
	start := time.Now()
	_, err := etcd.Open(ctx, []string{"http://127.0.0.1:1"}, &etcd.Options{DialTimeout: 500 * time.Millisecond})
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("Open(no server) = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open(no server) took %v", d)
	}
}

// TestTooManyOperations: an entry whose index rows exceed the cluster's
// --max-txn-ops is refused with a clear error before anything is written.
func TestTooManyOperations(t *testing.T) {
	s := newStore(t)
	defer s.Close()
	ctx := context.Background()
	e := registrytest.Mailbox("shared.big", "be1", "default")
	for i := range 200 {
		e.ACL = append(e.ACL, mboxlist.ACLItem{ID: fmt.Sprintf("u%03d", i), Rights: "lr"})
	}
	_, err := s.Create(ctx, e)
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "max-txn-ops") {
		t.Fatalf("Create of a 201-operation entry = %v, want ErrInvalid naming --max-txn-ops", err)
	}
	if _, err := s.Get(ctx, "shared.big"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("refused entry was written: %v", err)
	}
}
