package member_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/etcd/member"
	"github.com/murderkit/murderkit/registry/registrytest"
)

func freeURL(t *testing.T, ip string) string {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// startThree starts a 3-member embedded cluster on 127.0.0.41-43 in this
// process, as three bridges would each run one.
func startThree(t *testing.T) []*member.Member {
	dir := t.TempDir()
	var cfgs []member.Config
	var initial []string
	for i := range 3 {
		ip := fmt.Sprintf("127.0.0.%d", 41+i)
		c := member.Config{Name: fmt.Sprintf("b%d", i), Dir: filepath.Join(dir, fmt.Sprint(i)),
			PeerURL: freeURL(t, ip), ClientURL: freeURL(t, ip), UnsafeNoFsync: true, TickMs: 50, ElectionMs: 500}
		cfgs = append(cfgs, c)
		initial = append(initial, c.Name+"="+c.PeerURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms := make([]*member.Member, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range cfgs {
		cfgs[i].InitialCluster = strings.Join(initial, ",")
		wg.Add(1)
		go func() { defer wg.Done(); ms[i], errs[i] = member.Start(ctx, cfgs[i]) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.Close()
		}
	})
	return ms
}

// TestEmbeddedCluster: the same conformance suite, on a cluster of three
// embedded members reached with each member's RegistryURL.
func TestEmbeddedCluster(t *testing.T) {
	ms := startThree(t)
	var n atomic.Int64
	registrytest.Run(t, func(t *testing.T) registry.Store {
		k := int(n.Add(1))
		m := ms[k%3]
		var others []string
		for j, o := range ms {
			if j != k%3 {
				others = append(others, o.ClientURL())
			}
		}
		s, err := registry.Open(context.Background(), m.RegistryURL(fmt.Sprintf("/emb%d", k), others...))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestInProcessClients: the same conformance suite through each member's
// in-process client (Member.Client, what murder-bridge serve --etcd-member
// uses), the stores spread over the three members.
func TestInProcessClients(t *testing.T) {
	ms := startThree(t)
	var n atomic.Int64
	registrytest.Run(t, func(t *testing.T) registry.Store {
		k := int(n.Add(1))
		m := ms[k%3]
		s, err := etcd.OpenClient(context.Background(), m.Client(), &etcd.Options{Prefix: fmt.Sprintf("/inproc%d", k), MaxTxnOps: m.MaxTxnOps()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMemorySettings: a member started without memory settings runs with
// the defaults docs/scaling.md derives from the measurements (snapshot
// count, catch-up entries, revision compaction), and given ones win; a
// negative retention turns compaction off.
func TestMemorySettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := func(c member.Config) *member.Member {
		t.Helper()
		c.Dir, c.PeerURL, c.ClientURL, c.UnsafeNoFsync = t.TempDir(), freeURL(t, "127.0.0.44"), freeURL(t, "127.0.0.44"), true
		m, err := member.Start(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	type got struct {
		Snap, CatchUp uint64
		Mode, Keep    string
	}
	of := func(m *member.Member) got {
		c := m.EtcdConfig()
		return got{c.SnapshotCount, c.SnapshotCatchUpEntries, c.AutoCompactionMode, c.AutoCompactionRetention}
	}
	if g, w := of(start(member.Config{Name: "d"})), (got{member.DefaultSnapshotCount, member.DefaultCatchUpEntries, "revision", fmt.Sprint(member.DefaultCompactionRetention)}); g != w {
		t.Errorf("defaults: %+v, want %+v", g, w)
	}
	// A restart replays the WAL since the last disk snapshot: after a bulk
	// import of ~100 KB transactions, 10,000 entries were ~1 GB
	// (docs/scaling.md); at most 1,000.
	if member.DefaultCatchUpEntries >= 5000 || member.DefaultSnapshotCount > 1000 {
		t.Errorf("defaults keep too many raft entries: catch-up %d, snapshot count %d", member.DefaultCatchUpEntries, member.DefaultSnapshotCount)
	}
	if g, w := of(start(member.Config{Name: "s", SnapshotCount: 2000, CatchUpEntries: 300, CompactionRetention: 5000})), (got{2000, 300, "revision", "5000"}); g != w {
		t.Errorf("given: %+v, want %+v", g, w)
	}
	if g := of(start(member.Config{Name: "n", CompactionRetention: -1})); g.Keep != "0" {
		t.Errorf("retention -1: compaction %s %s, want off (0)", g.Mode, g.Keep)
	}
}
