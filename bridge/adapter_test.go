package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

func openStore(t *testing.T) registry.Store {
	t.Helper()
	st, err := leveldb.Open(context.Background(), t.TempDir(), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// ACLs and locations go through the adapter as Cyrus's master keeps them:
// the ACL string parsed by mboxlist.ParseACLTab and printed back with its
// trailing TAB; the location split by registry.ParseLocation.
func TestACLRoundTrip(t *testing.T) {
	ctx := context.Background()
	a := bridge.New(openStore(t))
	const L = "127.0.0.1:11143!default"
	for i, tc := range []struct{ in, out string }{
		{"", ""}, {"anyone\tlrs\t", "anyone\tlrs\t"},
		{"alice\tlrswipkxtecdan\tbob\tlr\t", "alice\tlrswipkxtecdan\tbob\tlr\t"},
		{"-bob\tl\tanyone\tlrs\t", "-bob\tl\tanyone\tlrs\t"},
		{"erin\t\t", "erin\t\t"},
		{"anyone\tlrs", "anyone\tlrs\t"}, // a missing final TAB is normalised as Cyrus stores it
	} {
		name := fmt.Sprintf("shared.acl%d", i)
		if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: name, Location: L, ACL: tc.in}); err != nil {
			t.Fatalf("ACTIVATE %q: %v", tc.in, err)
		}
		if m, ok, err := a.Lookup(ctx, name); err != nil || !ok || m.ACL != tc.out {
			t.Errorf("ACL %q came back as %q (%v %v), want %q", tc.in, m.ACL, ok, err, tc.out)
		}
	}
}

// An identifier with no rights after it (no TAB) is refused: Cyrus's
// master would store it as sent and its mailboxes.db drop it
// (mailbox_acl_to_dlist), so the bridge says so instead of storing an
// identifier with empty rights, which it did before ACL parsing had one
// home (mboxlist.ParseACLTab).
func TestACLWithoutRightsRefused(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := bridge.New(st)
	err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: "shared.x", Location: "be1!default", ACL: "anyone\tlrs\tbob"})
	var me *mupdate.Error
	if !errors.As(err, &me) || me.Text != mboxlist.TextBadACL || !errors.Is(err, mupdate.ErrInvalid) {
		t.Fatalf("ACTIVATE with a dangling identifier = %v, want NO %q", err, mboxlist.TextBadACL)
	}
	if _, err := st.Get(ctx, "shared.x"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("refused ACTIVATE stored something: %v", err)
	}
}

// A location without '!' is a server without a partition, as Cyrus's
// master splits it (mupdate.c database_log: the server is the whole text
// up to the first '!'); "host!" is a server with an empty partition. Before
// location parsing had one home (registry.ParseLocation) the adapter kept
// "h2" as a partition with no server, while the follow guard and the
// PARTIAL-UPDATE filter (mupdate.ServerOf) read it as a server.
func TestLocations(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := bridge.New(st)
	for i, tc := range []struct {
		in                string
		server, partition string
		emptyPartition    bool
	}{
		{"127.0.0.1:11143!default", "127.0.0.1:11143", "default", false},
		{"127.0.0.1:11143!", "127.0.0.1:11143", "", true},
		{"h2", "h2", "", false},
	} {
		name := fmt.Sprintf("shared.loc%d", i)
		if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: name, Location: tc.in}); err != nil {
			t.Fatalf("RESERVE at %q: %v", tc.in, err)
		}
		e, err := st.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want := registry.Location{Server: tc.server, Partition: tc.partition, EmptyPartition: tc.emptyPartition}
		if e.Primary() != want || e.Server != tc.server {
			t.Errorf("RESERVE at %q stored %+v (server %q), want %+v", tc.in, e.Primary(), e.Server, want)
		}
		if m, _, _ := a.Lookup(ctx, name); m.Location != tc.in {
			t.Errorf("RESERVE at %q reads back as %q", tc.in, m.Location)
		}
	}
}

// The conflict rules of Cyrus's master, through the registry.
func TestWriteRules(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := bridge.New(st)
	a.Now = func() time.Time { return time.Unix(1795319680, 0) }
	w := func(op mupdate.Op, name, loc, acl string) error {
		return a.Write(ctx, mupdate.Request{Op: op, Name: name, Location: loc, ACL: acl})
	}
	look := func(name string) (mupdate.Mailbox, bool) {
		m, ok, err := a.Lookup(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return m, ok
	}
	const L, O = "127.0.0.1:11143!default", "otherhost!default"
	if err := w(mupdate.OpReserve, "user.carol", L, ""); err != nil {
		t.Fatal(err)
	}
	if m, _ := look("user.carol"); m != (mupdate.Mailbox{Name: "user.carol", State: mupdate.Reserved, Location: L}) {
		t.Fatalf("after RESERVE: %+v", m)
	}
	e, err := st.Get(ctx, "user.carol")
	if err != nil || e.Type != mboxlist.TypeEmail|mboxlist.FlagRemote|mboxlist.FlagReserve || e.Server != "127.0.0.1:11143" || e.Partition != "default" || e.Mtime != 1795319680 {
		t.Fatalf("registry entry after RESERVE: %+v %v", e, err)
	}
	if err := w(mupdate.OpReserve, "user.carol", O, ""); !errors.Is(err, mupdate.ErrExists) {
		t.Fatalf("RESERVE elsewhere = %v, want ErrExists", err)
	}
	if err := w(mupdate.OpActivate, "user.carol", L, "carol\tlrswipkxtecdan\t"); err != nil {
		t.Fatal(err)
	}
	if m, _ := look("user.carol"); m.State != mupdate.Active || m.ACL != "carol\tlrswipkxtecdan\t" {
		t.Fatalf("after ACTIVATE: %+v", m)
	}
	if err := w(mupdate.OpDeactivate, "user.carol", O, ""); err != nil {
		t.Fatal(err) // active -> reserved at the given location
	}
	if m, _ := look("user.carol"); m != (mupdate.Mailbox{Name: "user.carol", State: mupdate.Reserved, Location: O}) {
		t.Fatalf("after DEACTIVATE: %+v", m)
	}
	// where Cyrus crashes: DEACTIVATE reserved at the same location
	if err := w(mupdate.OpDeactivate, "user.carol", O, ""); !errors.Is(err, mupdate.ErrNotActive) {
		t.Fatalf("DEACTIVATE of reserved = %v", err)
	}
	// ACTIVATE moves (XFER's second half)
	if err := w(mupdate.OpActivate, "user.carol", "newhost!p2", "carol\tlr\t"); err != nil {
		t.Fatal(err)
	}
	e, _ = st.Get(ctx, "user.carol")
	if len(e.Locations) != 1 || e.Locations[0] != (registry.Location{Server: "newhost", Partition: "p2"}) {
		t.Fatalf("locations after move: %+v", e.Locations)
	}
	if err := w(mupdate.OpDelete, "user.carol", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := look("user.carol"); ok {
		t.Fatal("still there after DELETE")
	}
	if _, err := st.GetTombstone(ctx, "user.carol"); err != nil {
		t.Fatalf("no tombstone after DELETE: %v", err)
	}
	if err := w(mupdate.OpDelete, "user.carol", "", ""); !errors.Is(err, mupdate.ErrNotExist) {
		t.Fatalf("DELETE unknown = %v", err)
	}
	if err := w(mupdate.OpDeactivate, "user.nobody", L, ""); !errors.Is(err, mupdate.ErrNotActive) {
		t.Fatalf("DEACTIVATE unknown = %v", err)
	}
	// a fresh RESERVE after the DELETE succeeds (docs/contracts.md: tombstones)
	if err := w(mupdate.OpReserve, "user.carol", L, ""); err != nil {
		t.Fatalf("RESERVE after DELETE: %v", err)
	}
	// a name the registry refuses is a NO, not a server failure
	var me *mupdate.Error
	if err := w(mupdate.OpActivate, "user..x", L, ""); !errors.As(err, &me) {
		t.Fatalf("bad name = %v, want a *mupdate.Error", err)
	}
}

// Entries with several locations: ACTIVATE at a secondary makes it the
// preferred primary and keeps the rest; fields MUPDATE does not carry are
// kept.
func TestActivateKeepsRegistryFields(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	e := registry.Entry{Entry: mboxlist.Entry{Name: "user.dave", Type: mboxlist.TypeEmail, UniqueID: "u-1", UIDValidity: 7,
		ACL: mboxlist.ACL{{ID: "dave", Rights: "lrs"}}},
		Locations: []registry.Location{{Server: "a", Partition: "p"}, {Server: "b", Partition: "p"}}}
	if _, err := st.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	a := bridge.New(st)
	if m, ok, _ := a.Lookup(ctx, "user.dave"); !ok || m.Location != "a!p" || m.ACL != "dave\tlrs\t" {
		t.Fatalf("Lookup = %+v %v (MUPDATE sends the preferred primary)", m, ok)
	}
	if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: "user.dave", Location: "b!p", ACL: "dave\tlr\t"}); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Get(ctx, "user.dave")
	if len(got.Locations) != 1 || got.Locations[0].Server != "b" || got.UniqueID != "u-1" || got.UIDValidity != 7 {
		t.Fatalf("after ACTIVATE at the secondary: %+v", got)
	}
}

// Two backends RESERVE one name at the same moment: exactly one wins.
func TestConcurrentReserve(t *testing.T) {
	ctx := context.Background()
	a := bridge.New(openStore(t))
	n := 50
	for i := range n {
		name := "user.race" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[j] = a.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: name, Location: []string{"a!p", "b!p"}[j]})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, mupdate.ErrExists) {
				t.Fatal(err)
			}
		}
		if ok != 1 {
			t.Fatalf("%s: %d winners (%v)", name, ok, errs)
		}
	}
}

// The watch feed maps registry changes to MUPDATE updates, and a snapshot
// lists in Cyrus order.
func TestWatchAndSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := bridge.New(openStore(t))
	for _, n := range []string{"user.bob", "shared", "DELETED.user.x.6B0267B0", "user.alice.Sent", "user.alice"} {
		if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: n, Location: "h!p", ACL: "anyone\tlrs\t"}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := snap.Range(ctx, func(m mupdate.Mailbox) error { names = append(names, m.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	snap.Close()
	want := []string{"DELETED.user.x.6B0267B0", "shared", "user.alice", "user.alice.Sent", "user.bob"}
	if len(names) != len(want) {
		t.Fatalf("snapshot = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("snapshot = %v, want %v", names, want)
		}
	}
	from := snap.Revision()
	got := make(chan mupdate.Change, 10)
	go a.Watch(ctx, from, func(c mupdate.Change) error { got <- c; return nil })
	a.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: "user.new", Location: "h!p"})
	a.Write(ctx, mupdate.Request{Op: mupdate.OpDelete, Name: "user.bob"})
	var seen []mupdate.Change
	for len(seen) < 2 {
		select {
		case c := <-got:
			if c.Name != "" {
				seen = append(seen, c)
			}
		case <-ctx.Done():
			t.Fatalf("watch delivered %+v only", seen)
		}
	}
	if seen[0].Name != "user.new" || seen[0].Cur == nil || seen[0].Cur.State != mupdate.Reserved {
		t.Errorf("first change %+v", seen[0])
	}
	if seen[1].Name != "user.bob" || seen[1].Cur != nil || seen[1].Revision <= seen[0].Revision {
		t.Errorf("second change %+v", seen[1])
	}
}

// ReplicatedBackends (off by default): a replica's repeat of its primary's
// RESERVE at its own server and DELETE of a deleted name answer OK and
// change nothing; everything else keeps Cyrus's rules. Off, the same
// requests get Cyrus's answers.
func TestReplicatedBackends(t *testing.T) {
	ctx := context.Background()
	const S = "127.0.0.1:11143"
	const acl = "alice\tlrswipkxtecdan\tbob\tlr\t"
	for _, on := range []bool{false, true} {
		a := bridge.New(openStore(t))
		a.ReplicatedBackends = on
		w := func(op mupdate.Op, name, loc, acl string) error {
			return a.Write(ctx, mupdate.Request{Op: op, Name: name, Location: loc, ACL: acl})
		}
		look := func(name string) mupdate.Mailbox {
			m, _, err := a.Lookup(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		// the primary's RENAME target, pushed as "server!" (empty partition)
		for _, r := range []mupdate.Request{
			{Op: mupdate.OpReserve, Name: "user.alice.Archive", Location: S + "!"},
			{Op: mupdate.OpActivate, Name: "user.alice.Archive", Location: S + "!", ACL: acl},
			{Op: mupdate.OpReserve, Name: "user.alice.Sent", Location: S + "!default"},
			{Op: mupdate.OpActivate, Name: "user.alice.Sent", Location: S + "!default", ACL: acl},
			{Op: mupdate.OpDelete, Name: "user.alice.Sent"},
		} {
			if err := a.Write(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		// the replica catching up: RESERVE at server!default
		err := w(mupdate.OpReserve, "user.alice.Archive", S+"!default", "")
		if on {
			if err != nil {
				t.Errorf("on: replica RESERVE at its server: %v", err)
			}
			if m := look("user.alice.Archive"); m != (mupdate.Mailbox{Name: "user.alice.Archive", State: mupdate.Active, Location: S + "!", ACL: acl}) {
				t.Errorf("on: entry changed by an accepted repeat: %+v", m)
			}
		} else if !errors.Is(err, mupdate.ErrExists) {
			t.Errorf("off: RESERVE at server!default of an entry at server! = %v, want ErrExists (Cyrus compares location strings)", err)
		}
		// RESERVE at the same location: Cyrus keeps the name but drops the
		// entry to reserved without ACL; on, the active entry stays
		if err := w(mupdate.OpReserve, "user.alice.Archive", S+"!", ""); err != nil {
			t.Fatal(err)
		}
		if m := look("user.alice.Archive"); (m.State == mupdate.Active) != on {
			t.Errorf("on=%v: after a RESERVE at the same location: %+v", on, m)
		}
		// the replica's DELETE of what its primary deleted (tombstone)
		err = w(mupdate.OpDelete, "user.alice.Sent", "", "")
		if on && err != nil || !on && !errors.Is(err, mupdate.ErrNotExist) {
			t.Errorf("on=%v: DELETE of a deleted name = %v", on, err)
		}
		// never: another server, another partition, a name never held
		if err := w(mupdate.OpActivate, "user.alice.Archive", S+"!default", acl); err != nil {
			t.Fatal(err)
		}
		for _, loc := range []string{"otherhost!default", S + "!p2", "default"} {
			if err := w(mupdate.OpReserve, "user.alice.Archive", loc, ""); !errors.Is(err, mupdate.ErrExists) {
				t.Errorf("on=%v: RESERVE at %s of an entry at %s!default = %v, want ErrExists", on, loc, S, err)
			}
		}
		if err := w(mupdate.OpDelete, "user.never", "", ""); !errors.Is(err, mupdate.ErrNotExist) {
			t.Errorf("on=%v: DELETE of a name never held = %v, want ErrNotExist", on, err)
		}
		if err := w(mupdate.OpDeactivate, "user.never", S+"!default", ""); !errors.Is(err, mupdate.ErrNotActive) {
			t.Errorf("on=%v: DEACTIVATE unknown = %v", on, err)
		}
	}
}
