package follow_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// master is our MUPDATE server on an in-memory list, standing in for a
// Cyrus master in the fast unit tests (interop/ runs the real one). drop
// closes every connection, as a master crash does.
type master struct {
	be   *memory.Backend
	addr string
	srv  *mupdateserver.Server
	mu   sync.Mutex
	ln   net.Listener
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startMaster(t *testing.T, ctx context.Context) *master { return startMasterB(t, ctx) }

func startMasterB(t testing.TB, ctx context.Context) *master {
	t.Helper()
	st, err := creds.Parse(strings.NewReader("murder:murderpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := &master{be: memory.New(nil)}
	m.start(t, ctx, st, "127.0.0.1:0")
	return m
}

func (m *master) start(t testing.TB, ctx context.Context, st *creds.Store, addr string) {
	srv, err := mupdateserver.New(mupdateserver.Config{Backend: m.be, Auth: st, Logger: quiet(), FailedLoginPause: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.srv, m.ln, m.addr = srv, ln, ln.Addr().String()
	m.mu.Unlock()
	go srv.Serve(ctx, ln)
	t.Cleanup(func() { srv.Close() })
}

func (m *master) write(t *testing.T, reqs ...mupdate.Request) {
	t.Helper()
	for _, r := range reqs {
		if err := m.be.Write(context.Background(), r); err != nil {
			t.Fatalf("master %v: %v", r, err)
		}
	}
}

// list is the master's list.
func (m *master) list(t *testing.T) map[string]mupdate.Mailbox {
	t.Helper()
	snap, err := m.be.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	out := map[string]mupdate.Mailbox{}
	snap.Range(context.Background(), func(mb mupdate.Mailbox) error { out[mb.Name] = mb; return nil })
	return out
}

// regList is the registry as MUPDATE shows it.
func regList(t *testing.T, st registry.Store) map[string]mupdate.Mailbox {
	t.Helper()
	out := map[string]mupdate.Mailbox{}
	if _, err := st.List(context.Background(), "", func(e registry.Entry) error {
		out[e.Name] = bridge.ToMailbox(&e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func openStore(t *testing.T) registry.Store { return openStoreB(t) }

func openStoreB(t testing.TB) registry.Store {
	t.Helper()
	st, err := leveldb.Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func act(name, loc, acl string) mupdate.Request {
	return mupdate.Request{Op: mupdate.OpActivate, Name: name, Location: loc, ACL: acl}
}

func waitEqual(t *testing.T, m *master, st registry.Store, what string) {
	t.Helper()
	var diff string
	if !eventually.WaitTrue(10*time.Second, func() bool {
		diff = cmp.Diff(m.list(t), regList(t, st))
		return diff == ""
	}) {
		t.Fatalf("%s: master (-) vs registry (+):\n%s", what, diff)
	}
}

func TestFollowResyncAndLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := startMaster(t, ctx)
	const be = "127.0.0.1:11143!default"
	m.write(t,
		act("user.alice", be, "alice\tlrswipkxtecdan\t"),
		act("user.alice.Sent", be, "alice\tlrswipkxtecdan\t"),
		act("shared.lab", be, "anyone\tlrs\t"),
		mupdate.Request{Op: mupdate.OpReserve, Name: "user.bob", Location: be},
	)
	st := openStore(t)
	// the registry already holds a stale entry (from an import) that the
	// master no longer has, and one that differs
	if _, err := st.Create(ctx, registry.Entry{Locations: []registry.Location{{Server: "old", Partition: "p"}}, Entry: entry("user.gone")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, registry.Entry{Locations: []registry.Location{{Server: "127.0.0.1:11143", Partition: "default"}}, Entry: entry("shared.lab")}); err != nil {
		t.Fatal(err)
	}
	// and an entry of an imported backend db marked deleted, which the
	// master has live: revived, keeping the fields MUPDATE does not carry
	dead := entry("user.bob")
	dead.Type |= mboxlist.FlagDeleted
	dead.UniqueID = "b0b-uniqueid"
	if _, err := st.Create(ctx, registry.Entry{Locations: []registry.Location{{Server: "127.0.0.1:11143", Partition: "default"}}, Entry: dead}); err != nil {
		t.Fatal(err)
	}
	f, err := follow.New(follow.Config{Addr: m.addr, User: "murder", Password: "murderpw", Store: st, Logger: quiet(),
		NoopInterval: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fctx, fstop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()

	waitEqual(t, m, st, "after the first full list")
	s := f.Status()
	if s.LastSync.Created != 2 || s.LastSync.Updated != 2 || s.LastSync.Deleted != 1 || s.LastSync.Unchanged != 0 {
		t.Errorf("first resync = %+v, want 2 created, 2 updated, 1 deleted", s.LastSync)
	}
	if e, err := st.Get(ctx, "user.bob"); err != nil || e.UniqueID != "b0b-uniqueid" || e.Type.Has(mboxlist.FlagDeleted) || !e.Type.Has(mboxlist.FlagReserve) {
		t.Errorf("revived user.bob = %+v, %v", e, err)
	}
	if _, err := st.GetTombstone(ctx, "user.gone"); err != nil {
		t.Errorf("vanished entry left no tombstone: %v", err)
	}

	// live changes
	m.write(t,
		act("user.bob", be, "bob\tlrswipkxtecdan\t"),
		mupdate.Request{Op: mupdate.OpDelete, Name: "user.alice.Sent"},
		act("user.carol", "127.0.0.1:11144!default", "carol\tlrswipkxtecdan\t"),
	)
	waitEqual(t, m, st, "after live changes")

	// lag: a NOOP round trip completes every 50 ms
	if !eventually.WaitTrue(5*time.Second, func() bool { l, ok := f.Lag(); return ok && l < time.Second }) {
		t.Errorf("lag never under 1 s: %+v", f.Status())
	}

	// drop every connection, change the master while the follower is away,
	// then let it back: only the differences are rewritten
	rev0, _ := st.Revision(ctx)
	applied0 := f.Status().Applied
	m.srv.Close()
	m.write(t,
		mupdate.Request{Op: mupdate.OpDelete, Name: "user.carol"},
		act("user.dave", be, "dave\tlrswipkxtecdan\t"),
		act("user.alice", be, "alice\tlrswipkxtecdan\tbob\tlr\t"),
	)
	st2, _ := creds.Parse(strings.NewReader("murder:murderpw\n"))
	m.start(t, ctx, st2, m.addr)
	if !eventually.WaitTrue(10*time.Second, func() bool { return f.Status().Resyncs >= 2 }) {
		t.Fatalf("no second resync: %+v", f.Status())
	}
	waitEqual(t, m, st, "after a drop and resync")
	s = f.Status()
	if s.LastSync.Created != 1 || s.LastSync.Updated != 1 || s.LastSync.Deleted != 1 || s.LastSync.Unchanged != 2 {
		t.Errorf("second resync = %+v, want 1 created, 1 updated, 1 deleted, 2 unchanged", s.LastSync)
	}
	if got := s.Applied - applied0; got != 3 {
		t.Errorf("resync made %d registry writes, want exactly 3", got)
	}
	rev1, _ := st.Revision(ctx)
	if rev1-rev0 < 3 {
		t.Errorf("registry revision moved %d, want >= 3", rev1-rev0)
	}

	fstop()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func entry(name string) mboxlist.Entry {
	return mboxlist.Entry{Name: name, Type: mboxlist.FlagRemote, ACL: mboxlist.ACL{}}
}

func TestGuardRefusesMasterOwnedWrites(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	f, err := follow.New(follow.Config{Addr: "old-master:3905", User: "murder", Store: st, SlotTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	g := f.Guard(bridge.New(st))
	err = g.Write(ctx, act("user.x", "be1!default", "x\tlr\t"))
	var me *mupdate.Error
	if !errors.As(err, &me) || !errors.Is(err, follow.ErrFollowing) || !strings.Contains(me.Text, "old-master:3905") {
		t.Fatalf("write while following = %v, want a NO naming the master", err)
	}
	// reads are served from the registry
	if _, ok, err := g.Lookup(ctx, "user.x"); err != nil || ok {
		t.Fatalf("Lookup = %v %v", ok, err)
	}
	// a slot in cutover makes the bridge authoritative for its locations
	if _, err := st.CreateSlot(ctx, registry.Slot{Name: "s1", State: registry.SlotCutover, Locations: []registry.Location{{Server: "be1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := g.Write(ctx, act("user.x", "be1!default", "x\tlr\t")); err != nil {
		t.Fatalf("write in a cutover slot = %v", err)
	}
	// moving it out of the slot (to a master-owned server) is refused
	if err := g.Write(ctx, act("user.x", "be2!default", "x\tlr\t")); !errors.Is(err, follow.ErrFollowing) {
		t.Fatalf("move out of the cutover slot = %v, want refused", err)
	}
	if err := g.Write(ctx, mupdate.Request{Op: mupdate.OpDelete, Name: "user.x"}); err != nil {
		t.Fatalf("delete in a cutover slot = %v", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	st := openStore(t)
	for _, c := range []follow.Config{{User: "u", Store: st}, {Addr: "h:1", Store: st}, {Addr: "h:1", User: "u"}} {
		if _, err := follow.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
