// Package registrytest is the one conformance suite every registry.Store
// backend passes unchanged: `registrytest.Run(t, newStore)`.
//
// Source of truth: the registry.Store contract (registry.go) and design.md
// "Contracts in detail" (visible, tombstones, users and domains).
package registrytest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// NewStore returns an empty store for one test; the suite closes it.
type NewStore func(t *testing.T) registry.Store

// Trials is the number of two-creator trials: MURDERKIT_TRIALS, or def.
func Trials(def int) int {
	if n, err := strconv.Atoi(os.Getenv("MURDERKIT_TRIALS")); err == nil && n > 0 {
		return n
	}
	return def
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, newStore NewStore) registry.Store {
	s := newStore(t)
	t.Cleanup(func() { s.Close() })
	return s
}

// Mailbox builds an email mailbox entry at server!partition with an ACL given
// as alternating identifier, rights.
func Mailbox(name, server, partition string, acl ...string) registry.Entry {
	e := registry.Entry{}
	e.Name, e.Server, e.Partition = name, server, partition
	e.ACL = mboxlist.ACL{}
	for i := 0; i+1 < len(acl); i += 2 {
		e.ACL = append(e.ACL, mboxlist.ACLItem{ID: acl[i], Rights: acl[i+1]})
	}
	return e
}

func mustCreate(t *testing.T, s registry.Store, e registry.Entry) registry.Entry {
	t.Helper()
	got, err := s.Create(ctxT(t), e)
	if err != nil {
		t.Fatalf("Create(%s) = %v", e.Name, err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s error = %v, want %v", what, err, want)
	}
	var re *registry.Error
	if !errors.As(err, &re) {
		t.Fatalf("%s error %v is not a *registry.Error", what, err)
	}
}

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	t.Run("CreateGetUpdateDelete", func(t *testing.T) { testCRUD(t, open(t, newStore)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t, newStore)) })
	t.Run("Tombstones", func(t *testing.T) { testTombstones(t, open(t, newStore)) })
	t.Run("PutMovesLocation", func(t *testing.T) { testPut(t, open(t, newStore)) })
	t.Run("InvalidNames", func(t *testing.T) { testInvalid(t, open(t, newStore)) })
	t.Run("ListPrefixOrder", func(t *testing.T) { testList(t, open(t, newStore)) })
	t.Run("Visible", func(t *testing.T) { testVisible(t, open(t, newStore)) })
	t.Run("VisibleFollowsChanges", func(t *testing.T) { testVisibleChanges(t, open(t, newStore)) })
	t.Run("Import", func(t *testing.T) { testImport(t, open(t, newStore)) })
	t.Run("WatchAfterSnapshot", func(t *testing.T) { testWatch(t, open(t, newStore)) })
	t.Run("WatchConcurrentWriters", func(t *testing.T) { testWatchConcurrent(t, open(t, newStore)) })
	t.Run("WatchPrev", func(t *testing.T) { testWatchPrev(t, open(t, newStore)) })
	t.Run("WatchProgress", func(t *testing.T) { testWatchProgress(t, open(t, newStore)) })
	t.Run("Slots", func(t *testing.T) { testSlots(t, open(t, newStore)) })
	t.Run("GCTombstones", func(t *testing.T) { testGC(t, open(t, newStore)) })
	t.Run("CreateTrials", func(t *testing.T) { RunCreateTrials(t, open(t, newStore), Trials(10)) })
}

func testCRUD(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	if _, err := s.Get(ctx, "user.alice"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Get(absent) = %v, want ErrNotFound", err)
	}
	r0, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := mustCreate(t, s, Mailbox("user.alice", "be1", "default", "alice", "lrswipkxtecdan"))
	if a.Revision <= r0 {
		t.Fatalf("Create revision %d not above %d", a.Revision, r0)
	}
	got, err := s.Get(ctx, "user.alice")
	if err != nil || got.Revision != a.Revision || got.Server != "be1" {
		t.Fatalf("Get = %+v, %v; want revision %d on be1", got, err, a.Revision)
	}
	_, err = s.Create(ctx, Mailbox("user.alice", "be2", "default"))
	wantErr(t, "second Create", err, registry.ErrExists)

	upd := got
	upd.Partition = "p2"
	upd.Locations = nil
	u1, err := s.Update(ctx, upd)
	if err != nil {
		t.Fatalf("Update = %v", err)
	}
	if u1.Revision <= a.Revision || u1.Partition != "p2" {
		t.Fatalf("Update gave %+v", u1)
	}
	_, err = s.Update(ctx, upd) // stale revision
	wantErr(t, "stale Update", err, registry.ErrConflict)
	_, err = s.Update(ctx, Mailbox("user.nobody", "be1", "default"))
	wantErr(t, "Update(absent)", err, registry.ErrNotFound)

	_, err = s.Delete(ctx, "user.alice", a.Revision)
	wantErr(t, "stale Delete", err, registry.ErrConflict)
	tomb, err := s.Delete(ctx, "user.alice", u1.Revision)
	if err != nil {
		t.Fatalf("Delete = %v", err)
	}
	if tomb.Revision <= u1.Revision || tomb.Name != "user.alice" {
		t.Fatalf("tombstone %+v", tomb)
	}
	_, err = s.Get(ctx, "user.alice")
	wantErr(t, "Get(deleted)", err, registry.ErrNotFound)
	_, err = s.Delete(ctx, "user.alice", 0)
	wantErr(t, "Delete(deleted)", err, registry.ErrNotFound)
	if r, err := s.Revision(ctx); err != nil || r < tomb.Revision {
		t.Fatalf("Revision = %d, %v; want ≥ %d", r, err, tomb.Revision)
	}
}

func testRoundTrip(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	e := registry.Entry{Locations: []registry.Location{{Server: "be2", Partition: "p2"}, {Server: "be1", Partition: "default"}}}
	e.Name = "example.com!user.jane.a^b"
	e.Type = mboxlist.TypeEmail | mboxlist.FlagRemote
	e.ACL = mboxlist.ACL{{ID: "jane@example.com", Rights: "lrswipkxtecdan"}, {ID: "-anyone", Rights: "l"}, {ID: "we ird", Rights: "lr"}}
	e.UniqueID = "abc-126-jane"
	e.UIDValidity = 1600000003
	e.CreatedModseq = 4
	e.FolderModseq = 8
	e.Mtime = 1795319039
	e.LegacySpecialUse = `\Sent`
	e.History = []mboxlist.HistoryItem{{Name: "example.com!user.jane.old", Mtime: 1500000000, UIDValidity: 15, CreatedModseq: 2, FolderModseq: 3, Type: mboxlist.TypeEmail, Partition: "default"}}
	c := mustCreate(t, s, e)
	got, err := s.Get(ctx, e.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := e
	want.Server, want.Partition, want.Revision = "be2", "p2", c.Revision
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get after Create (-want +got):\n%s", diff)
	}
	// nil ACL (no A field) and empty ACL (`A %()`) stay apart.
	n := Mailbox("shared.noacl", "be1", "default")
	n.ACL = nil
	mustCreate(t, s, n)
	m := Mailbox("shared.emptyacl", "be1", "default")
	mustCreate(t, s, m)
	if g, _ := s.Get(ctx, "shared.noacl"); g.ACL != nil {
		t.Errorf("nil ACL came back as %#v", g.ACL)
	}
	if g, _ := s.Get(ctx, "shared.emptyacl"); g.ACL == nil || len(g.ACL) != 0 {
		t.Errorf("empty ACL came back as %#v", g.ACL)
	}
	// A location with no partition (Cyrus's `h2`).
	h := Mailbox("shared.h2", "h2", "")
	mustCreate(t, s, h)
	if g, _ := s.Get(ctx, "shared.h2"); g.Primary().String() != "h2" || len(g.Locations) != 1 {
		t.Errorf("location h2 came back as %+v", g.Locations)
	}
}

func testTombstones(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	e := Mailbox("user.bob.Old", "be1", "default", "bob", "lrswipkxtecdan")
	e.UniqueID = "u-old"
	e.UIDValidity = 77
	c := mustCreate(t, s, e)
	tomb, err := s.Delete(ctx, e.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := s.GetTombstone(ctx, e.Name)
	if err != nil || gt.UniqueID != "u-old" || gt.UIDValidity != 77 || gt.Revision != tomb.Revision || gt.Time.IsZero() {
		t.Fatalf("GetTombstone = %+v, %v", gt, err)
	}
	// A replay of the state read before the delete does not resurrect it,
	// neither by Create nor by Put.
	stale := c
	_, err = s.Create(ctx, stale)
	wantErr(t, "Create(replayed state)", err, registry.ErrTombstoned)
	if !errors.Is(err, registry.ErrConflict) {
		t.Errorf("ErrTombstoned is not an ErrConflict: %v", err)
	}
	_, err = s.Put(ctx, stale)
	wantErr(t, "Put(replayed state)", err, registry.ErrTombstoned)
	if _, err := s.Get(ctx, e.Name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("replay resurrected the mailbox: %v", err)
	}
	// A fresh create after the delete succeeds and clears the tombstone.
	fresh := Mailbox("user.bob.Old", "be2", "default", "bob", "lrswipkxtecdan")
	f := mustCreate(t, s, fresh)
	if f.Revision <= tomb.Revision {
		t.Fatalf("fresh create revision %d not after tombstone %d", f.Revision, tomb.Revision)
	}
	if _, err := s.GetTombstone(ctx, e.Name); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("tombstone still there after a fresh create: %v", err)
	}
	// A state read after the delete (revision ≥ tombstone) is no replay.
	if _, err := s.Delete(ctx, e.Name, f.Revision); err != nil {
		t.Fatal(err)
	}
	tomb2, _ := s.GetTombstone(ctx, e.Name)
	later := Mailbox("user.bob.Old", "be3", "default")
	later.Revision = tomb2.Revision
	if _, err := s.Put(ctx, later); err != nil {
		t.Fatalf("Put read at the tombstone's revision = %v", err)
	}
}

func testPut(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	p1, err := s.Put(ctx, Mailbox("user.carol", "be1", "default", "carol", "lrswipkxtecdan"))
	if err != nil {
		t.Fatal(err)
	}
	moved := Mailbox("user.carol", "be2", "p9", "carol", "lrswipkxtecdan")
	p2, err := s.Put(ctx, moved) // revision 0: unconditional upsert
	if err != nil {
		t.Fatal(err)
	}
	if p2.Revision <= p1.Revision {
		t.Fatalf("Put revisions %d then %d", p1.Revision, p2.Revision)
	}
	g, _ := s.Get(ctx, "user.carol")
	if g.Server != "be2" || g.Partition != "p9" || len(g.Locations) != 1 || g.Locations[0] != (registry.Location{Server: "be2", Partition: "p9"}) {
		t.Fatalf("after move: %+v", g)
	}
	// Locations decide the primary over Server/Partition.
	g.Locations = []registry.Location{{Server: "be3", Partition: "a"}, {Server: "be2", Partition: "p9"}}
	u, err := s.Update(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if u.Server != "be3" || u.Partition != "a" {
		t.Fatalf("primary not taken from Locations[0]: %+v", u)
	}
}

func testInvalid(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	for _, name := range []string{"", "user..x", "user.x.", "a\x1Fb", "\x80x", "!user.x", "a!b!c"} {
		_, err := s.Create(ctx, Mailbox(name, "be1", "default"))
		wantErr(t, fmt.Sprintf("Create(%q)", name), err, registry.ErrInvalid)
		_, err = s.Get(ctx, name)
		wantErr(t, fmt.Sprintf("Get(%q)", name), err, registry.ErrInvalid)
	}
	_, err := s.List(ctx, "user..x", func(registry.Entry) error { return nil })
	wantErr(t, "List(bad prefix)", err, registry.ErrInvalid)
}

// cyrusOrder is in the order Cyrus 3.6's ctl_mboxlist -d and MUPDATE LIST
// give (dbname byte order): DELETED, domains, shared, user; a child before
// a sibling whose name continues with a space.
var cyrusOrder = []string{
	"DELETED.user.foo.Old.6B0267B0",
	"example.com!user.foo",
	"example.com!user.foo.Sent",
	"shared",
	"shared.lab",
	"user.foo",
	"user.foo.&AOk-t&AOk- 2024",
	"user.foo.Sent",
	"user.foo.Sent.2024",
	"user.foo x",
	"user.foo^bar",
	"user.foobar",
	"user.foobar.Trash",
}

func names(t *testing.T, s registry.Store, prefix string) ([]string, int64) {
	t.Helper()
	var out []string
	rev, err := s.List(ctxT(t), prefix, func(e registry.Entry) error {
		out = append(out, e.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q) = %v", prefix, err)
	}
	return out, rev
}

func testList(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	// Create in a scrambled order.
	for i := range cyrusOrder {
		n := cyrusOrder[(i*7)%len(cyrusOrder)]
		mustCreate(t, s, Mailbox(n, "be1", "default"))
	}
	got, rev := names(t, s, "")
	if diff := cmp.Diff(cyrusOrder, got); diff != "" {
		t.Errorf("List(\"\") order (-want +got):\n%s", diff)
	}
	if cur, _ := s.Revision(ctx); rev != cur {
		t.Errorf("List revision %d, current %d", rev, cur)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"user.foo", []string{"user.foo", "user.foo.&AOk-t&AOk- 2024", "user.foo.Sent", "user.foo.Sent.2024"}},
		{"user.foo.Sent", []string{"user.foo.Sent", "user.foo.Sent.2024"}},
		{"user.foobar", []string{"user.foobar", "user.foobar.Trash"}},
		{"user.fo", nil},
		{"example.com!", []string{"example.com!user.foo", "example.com!user.foo.Sent"}},
		{"example.com!user.foo", []string{"example.com!user.foo", "example.com!user.foo.Sent"}},
		{"shared", []string{"shared", "shared.lab"}},
		{"nothing", nil},
	}
	for _, tc := range tests {
		got, _ := names(t, s, tc.prefix)
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("List(%q) (-want +got):\n%s", tc.prefix, diff)
		}
		n, err := s.Count(ctx, tc.prefix)
		if err != nil || n != len(tc.want) {
			t.Errorf("Count(%q) = %d, %v; want %d", tc.prefix, n, err, len(tc.want))
		}
	}
	if n, _ := s.Count(ctx, ""); n != len(cyrusOrder) {
		t.Errorf("Count(\"\") = %d, want %d", n, len(cyrusOrder))
	}
	// Deleted entries leave the listing; an error from fn stops it.
	if _, err := s.Delete(ctx, "user.foo.Sent", 0); err != nil {
		t.Fatal(err)
	}
	got, _ = names(t, s, "user.foo.Sent")
	if diff := cmp.Diff([]string{"user.foo.Sent.2024"}, got); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	calls := 0
	_, err := s.List(ctx, "", func(registry.Entry) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List with failing fn = %v after %d calls, want stop after 1", err, calls)
	}
}

// visibleFixture is a registry with every case design.md's visible contract
// names.
func visibleFixture(t *testing.T, s registry.Store) {
	t.Helper()
	all := "lrswipkxtecdan"
	typed := func(e registry.Entry, typ mboxlist.MBType) registry.Entry { e.Type = typ; return e }
	for _, e := range []registry.Entry{
		Mailbox("user.fred", "be1", "default", "fred", all),
		Mailbox("user.fred.Sent", "be1", "default", "fred", all),
		Mailbox("user.fred.NoACL", "be1", "default"), // own hierarchy by prefix, no ACL needed
		// a negative l hides an own mailbox too (Cyrus 3.6.1, found by
		// the twin murders: "-anyone lr" on INBOX.x through the frontend)
		Mailbox("user.fred.NegAnyone", "be1", "default", "fred", all, "-anyone", "lr"),
		Mailbox("user.fred.NegSelf", "be1", "default", "fred", all, "-fred", "l"),
		Mailbox("user.fred.NegOther", "be1", "default", "fred", all, "-alice", "l"),
		typed(Mailbox("user.fred.#calendars", "be1", "default", "fred", all), mboxlist.TypeCollection),
		typed(Mailbox("user.fred.#calendars.Default", "be1", "default", "fred", all), mboxlist.TypeCalendar),
		typed(Mailbox("user.fred.#addressbooks.Default", "be1", "default", "fred", all), mboxlist.TypeAddressbook),
		typed(Mailbox("user.fred.Gone", "be1", "default", "fred", all), mboxlist.FlagDeleted),
		typed(Mailbox("user.fred.Pending", "be1", "default", "fred", all), mboxlist.FlagReserve|mboxlist.FlagRemote),
		typed(Mailbox("user.fred.Remote", "be2", "default", "fred", all), mboxlist.FlagRemote),
		// A 3.6 intermediate (placeholder parent of user.fred.Proj.Sub):
		// Cyrus's LIST never shows it, even to its owner.
		typed(Mailbox("user.fred.Proj", "be1", "default"), mboxlist.FlagIntermediate),
		typed(Mailbox("user.fred.Proj2", "be1", "default", "fred", all, "anyone", "lr"), mboxlist.FlagIntermediate),
		Mailbox("DELETED.user.fred.Old.5F000000", "be1", "default", "fred", all),
		Mailbox("user.fredrick", "be1", "default", "fredrick", all), // not fred's: user.fred is not a prefix of it
		Mailbox("user.fredrick.Shared", "be1", "default", "fredrick", all, "fred", "lr"),
		Mailbox("user.alice", "be1", "default", "alice", all, "fred", "lr"),
		Mailbox("user.alice.Private", "be1", "default", "alice", all),
		Mailbox("user.alice.Team", "be1", "default", "alice", all, "group:staff", "lrs"),
		Mailbox("user.alice.NotFred", "be1", "default", "alice", all, "anyone", "lr", "-fred", "l"),
		Mailbox("user.alice.ReadOnly", "be1", "default", "alice", all, "fred", "r"), // r without l: not listed
		Mailbox("user.alice.NegStaff", "be1", "default", "alice", all, "fred", "lr", "-group:staff", "l"),
		Mailbox("shared", "be1", "default", "anyone", "lrs"),
		Mailbox("shared.lab", "be1", "default", "anyone", "lrs"),
		Mailbox("shared.staff", "be1", "default", "group:staff", "lrs"),
		Mailbox("shared.nobody", "be1", "default", "admin", all),
		Mailbox("shared.anon", "be1", "default", "anonymous", "lr"),
		Mailbox("shared.negany", "be1", "default", "fred", "lr", "-anyone", "l"),
		Mailbox("shared.john", "be1", "default", "john.doe", "lr"),
		Mailbox("user.john^doe", "be1", "default", "john.doe", all),
		Mailbox("example.com!user.fred", "be1", "default", "fred@example.com", all),
		Mailbox("example.com!user.jane", "be1", "default", "jane@example.com", all, "fred@example.com", "lr"),
		Mailbox("example.com!shared.all", "be1", "default", "anyone", "lr"),
		Mailbox("other.org!shared.all", "be1", "default", "anyone", "lr"),
	} {
		mustCreate(t, s, e)
	}
}

func testVisible(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	visibleFixture(t, s)
	tests := []struct {
		user   string
		groups []string
		want   []string
	}{
		{"fred", nil, []string{
			"user.fred", "user.fred.NegOther", "user.fred.NoACL", "user.fred.Remote", "user.fred.Sent",
			"user.alice", "user.alice.NegStaff", "user.fredrick.Shared",
			"shared", "shared.lab",
		}},
		{"fred", []string{"staff"}, []string{
			"user.fred", "user.fred.NegOther", "user.fred.NoACL", "user.fred.Remote", "user.fred.Sent",
			"user.alice", "user.alice.Team", "user.fredrick.Shared",
			"shared", "shared.lab", "shared.staff",
		}},
		{"alice", nil, []string{
			"user.alice", "user.alice.NegStaff", "user.alice.NotFred", "user.alice.Private", "user.alice.ReadOnly", "user.alice.Team",
			"shared", "shared.lab",
		}},
		{"john.doe", nil, []string{"user.john^doe", "user.alice.NotFred", "shared", "shared.john", "shared.lab"}},
		{"anonymous", nil, []string{"user.alice.NotFred", "shared", "shared.anon", "shared.lab"}},
		{"fred@example.com", nil, []string{"example.com!user.fred", "example.com!user.jane", "example.com!shared.all"}},
		{"jane@example.com", nil, []string{"example.com!user.jane", "example.com!shared.all"}},
		{"nobody@nowhere.test", nil, nil},
		{"nobody", []string{"group:staff"}, []string{"user.alice.NotFred", "user.alice.Team", "shared", "shared.lab", "shared.staff"}},
	}
	for _, tc := range tests {
		got, err := s.Visible(ctx, tc.user, tc.groups)
		if err != nil {
			t.Errorf("Visible(%q, %q) = %v", tc.user, tc.groups, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Visible(%q, %q) (-want +got):\n%s", tc.user, tc.groups, diff)
		}
	}
	for _, bad := range []string{"", "a!b", "@example.com"} {
		_, err := s.Visible(ctx, bad, nil)
		wantErr(t, fmt.Sprintf("Visible(%q)", bad), err, registry.ErrInvalid)
	}
}

func testVisibleChanges(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	vis := func() []string {
		t.Helper()
		v, err := s.Visible(ctx, "fred", nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a := mustCreate(t, s, Mailbox("shared.x", "be1", "default", "admin", "lrswipkxtecdan"))
	if v := vis(); len(v) != 0 {
		t.Fatalf("visible before grant: %q", v)
	}
	a.ACL = append(a.ACL, mboxlist.ACLItem{ID: "fred", Rights: "lr"})
	a, err := s.Update(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if v := vis(); !slices.Equal(v, []string{"shared.x"}) {
		t.Fatalf("visible after grant: %q", v)
	}
	a.ACL = a.ACL[:1]
	a, err = s.Update(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if v := vis(); len(v) != 0 {
		t.Fatalf("visible after revoke: %q", v)
	}
	a.ACL = append(a.ACL, mboxlist.ACLItem{ID: "anyone", Rights: "lr"})
	a.Type = mboxlist.FlagReserve
	if a, err = s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if v := vis(); len(v) != 0 {
		t.Fatalf("reserved entry visible: %q", v)
	}
	a.Type = mboxlist.TypeEmail
	if a, err = s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if v := vis(); !slices.Equal(v, []string{"shared.x"}) {
		t.Fatalf("visible after activate: %q", v)
	}
	if _, err := s.Delete(ctx, "shared.x", a.Revision); err != nil {
		t.Fatal(err)
	}
	if v := vis(); len(v) != 0 {
		t.Fatalf("deleted entry visible: %q", v)
	}
}

func testImport(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	var batch []registry.Entry
	for i := range 300 {
		batch = append(batch, Mailbox(fmt.Sprintf("user.u%03d", i), "be1", "default", fmt.Sprintf("u%03d", i), "lrswipkxtecdan", "anyone", "l"))
	}
	// A name deleted before the import is imported again (an import is an
	// explicit operator action, not a replay).
	mustCreate(t, s, Mailbox("user.u007", "old", "default"))
	if _, err := s.Delete(ctx, "user.u007", 0); err != nil {
		t.Fatal(err)
	}
	// A name the import does not hold, among the names it does, is left
	// alone.
	foreign := mustCreate(t, s, Mailbox("user.u150.Foreign", "be2", "default", "u150", "lrswipkxtecdan"))
	st, err := s.Import(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if st != (registry.ImportStats{Created: 300}) {
		t.Fatalf("first Import = %+v", st)
	}
	if g, err := s.Get(ctx, foreign.Name); err != nil || g.Revision != foreign.Revision || g.Server != "be2" {
		t.Fatalf("Get of the name the import did not hold = %+v, %v; want %+v", g, err, foreign)
	}
	r1, _ := s.Revision(ctx)
	st, err = s.Import(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if st != (registry.ImportStats{Unchanged: 300}) {
		t.Fatalf("re-run Import = %+v", st)
	}
	if r2, _ := s.Revision(ctx); r2 != r1 {
		t.Fatalf("re-run Import changed the revision %d → %d", r1, r2)
	}
	batch[5].SetPrimary(registry.Location{Server: "be1", Partition: "p2"})
	batch[5].Locations = batch[5].Locations[:1]
	st, err = s.Import(ctx, batch[:10])
	if err != nil || st != (registry.ImportStats{Updated: 1, Unchanged: 9}) {
		t.Fatalf("Import with one change = %+v, %v", st, err)
	}
	if n, _ := s.Count(ctx, ""); n != 301 {
		t.Fatalf("Count = %d, want 301", n)
	}
	g, err := s.Get(ctx, "user.u005")
	if err != nil || g.Partition != "p2" {
		t.Fatalf("Get after import = %+v, %v", g, err)
	}
	if _, err := s.GetTombstone(ctx, "user.u007"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("import left the tombstone: %v", err)
	}
	v, err := s.Visible(ctx, "u100", nil)
	if err != nil || len(v) != 300 || v[0] != "user.u100" || v[1] != "user.u000" {
		t.Fatalf("Visible after import: %d names (%v), first %q", len(v), err, v[:min(2, len(v))])
	}
}

// collect reads events until n have arrived or the timeout passes.
func collect(t *testing.T, ch <-chan registry.Event, n int, timeout time.Duration) []registry.Event {
	t.Helper()
	var out []registry.Event
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(out), n)
			}
			if ev.Err != nil {
				t.Fatalf("watch error after %d events: %v", len(out), ev.Err)
			}
			if ev.Type == registry.EventProgress {
				continue
			}
			out = append(out, ev)
		case <-deadline:
			t.Fatalf("watch gave %d of %d events in %v", len(out), n, timeout)
		}
	}
	return out
}

func testWatch(t *testing.T, s registry.Store) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	for i := range 5 {
		mustCreate(t, s, Mailbox(fmt.Sprintf("user.w%d", i), "be1", "default"))
	}
	// A full dump at R, then Watch(R), with writes in between: the stream
	// holds exactly the later changes.
	var dumped []string
	rev, err := s.List(ctx, "", func(e registry.Entry) error { dumped = append(dumped, e.Name); return nil })
	if err != nil || len(dumped) != 5 {
		t.Fatalf("List = %d names, %v", len(dumped), err)
	}
	c5 := mustCreate(t, s, Mailbox("user.w5", "be1", "default"))
	tomb, err := s.Delete(ctx, "user.w0", 0)
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := s.Get(ctx, "user.w1")
	w1.Partition, w1.Locations = "p2", nil
	u1, err := s.Update(ctx, w1)
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, s.Watch(ctx, rev), 3, 10*time.Second)
	want := []struct {
		typ  registry.EventType
		name string
		rev  int64
	}{{registry.EventPut, "user.w5", c5.Revision}, {registry.EventDelete, "user.w0", tomb.Revision}, {registry.EventPut, "user.w1", u1.Revision}}
	for i, w := range want {
		if evs[i].Type != w.typ || evs[i].Name != w.name || evs[i].Revision != w.rev {
			t.Errorf("event %d = %v %s @%d, want %v %s @%d", i, evs[i].Type, evs[i].Name, evs[i].Revision, w.typ, w.name, w.rev)
		}
	}
	if evs[2].Entry.Partition != "p2" || evs[2].Entry.Revision != u1.Revision {
		t.Errorf("update event entry = %+v", evs[2].Entry)
	}
	if evs[1].Tombstone.Name != "user.w0" || evs[1].Tombstone.Revision != tomb.Revision {
		t.Errorf("delete event tombstone = %+v", evs[1].Tombstone)
	}
	// Resume after the first event: exactly the two later ones, then live
	// changes as they happen.
	wctx, wcancel := context.WithCancel(ctx)
	ch := s.Watch(wctx, evs[0].Revision)
	got := collect(t, ch, 2, 10*time.Second)
	if got[0].Revision != tomb.Revision || got[1].Revision != u1.Revision {
		t.Errorf("resumed watch revisions %d %d, want %d %d", got[0].Revision, got[1].Revision, tomb.Revision, u1.Revision)
	}
	live := mustCreate(t, s, Mailbox("user.live", "be1", "default"))
	got = collect(t, ch, 1, 10*time.Second)
	if got[0].Name != "user.live" || got[0].Revision != live.Revision {
		t.Errorf("live event %+v", got[0])
	}
	wcancel()
	// The channel closes once the context ends.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel still open 10s after its context ended")
		}
	}
}

func testWatchConcurrent(t *testing.T, s registry.Store) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	start, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, start)
	const writers, each = 4, 25
	var wg sync.WaitGroup
	acked := make(chan int64, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e, err := s.Create(ctx, Mailbox(fmt.Sprintf("user.c%d.m%02d", w, i), "be1", "default"))
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				acked <- e.Revision
			}
		}()
	}
	wg.Wait()
	close(acked)
	want := map[int64]bool{}
	for r := range acked {
		want[r] = true
	}
	evs := collect(t, ch, writers*each, 30*time.Second)
	last := start
	for _, ev := range evs {
		if ev.Revision < last {
			t.Fatalf("revision went back: %d after %d", ev.Revision, last)
		}
		last = ev.Revision
		if !want[ev.Revision] {
			t.Fatalf("event at revision %d (%s) was not an acknowledged write, or came twice", ev.Revision, ev.Name)
		}
		delete(want, ev.Revision)
	}
	if len(want) != 0 {
		t.Fatalf("%d acknowledged writes missing from the watch", len(want))
	}
}

func testSlots(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	if _, err := s.GetSlot(ctx, "s1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetSlot(absent) = %v", err)
	}
	sl := registry.Slot{Name: "s1", State: registry.SlotLegacy, Locations: []registry.Location{{Server: "be1"}, {Server: "be2", Partition: "p2"}}}
	c, err := s.CreateSlot(ctx, sl)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateSlot(ctx, sl)
	wantErr(t, "second CreateSlot", err, registry.ErrExists)
	_, err = s.CreateSlot(ctx, registry.Slot{Name: "bad", State: "nonsense"})
	wantErr(t, "CreateSlot(bad state)", err, registry.ErrInvalid)
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	if err := c.Transition(registry.SlotMirrored, "op", "follow started", now); err != nil {
		t.Fatal(err)
	}
	u, err := s.UpdateSlot(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if u.Revision <= c.Revision {
		t.Fatalf("UpdateSlot revision %d", u.Revision)
	}
	_, err = s.UpdateSlot(ctx, c) // stale
	wantErr(t, "stale UpdateSlot", err, registry.ErrConflict)
	if err := u.Transition(registry.SlotCutover, "op", "", now); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("mirrored→cutover allowed: %v", err)
	}
	g, err := s.GetSlot(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := registry.Slot{Name: "s1", State: registry.SlotMirrored, Revision: u.Revision,
		Locations: sl.Locations,
		History:   []registry.SlotTransition{{From: registry.SlotLegacy, To: registry.SlotMirrored, Time: now, By: "op", Note: "follow started"}}}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("GetSlot (-want +got):\n%s", diff)
	}
	if !g.Contains(registry.Location{Server: "be1", Partition: "any"}) || g.Contains(registry.Location{Server: "be2", Partition: "default"}) {
		t.Errorf("Contains wrong for %+v", g.Locations)
	}
	if _, err := s.CreateSlot(ctx, registry.Slot{Name: "s0", State: registry.SlotLegacy}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListSlots(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "s0" || all[1].Name != "s1" {
		t.Fatalf("ListSlots = %+v, %v", all, err)
	}
	err = s.DeleteSlot(ctx, "s1", c.Revision)
	wantErr(t, "stale DeleteSlot", err, registry.ErrConflict)
	if err := s.DeleteSlot(ctx, "s1", u.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSlot(ctx, "s1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetSlot after delete = %v", err)
	}
}

func testGC(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	for _, n := range []string{"user.g1", "user.g2"} {
		mustCreate(t, s, Mailbox(n, "be1", "default"))
		if _, err := s.Delete(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.GCTombstones(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("GC of young tombstones removed %d, %v", n, err)
	}
	n, err = s.GCTombstones(ctx, time.Now().Add(time.Second))
	if err != nil || n != 2 {
		t.Fatalf("GC removed %d, %v; want 2", n, err)
	}
	if _, err := s.GetTombstone(ctx, "user.g1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("tombstone survived GC: %v", err)
	}
}

// RunCreateTrials runs n trials of two concurrent creators of one name on
// different servers: exactly one must succeed, the other must get
// ErrExists, and the stored location must be the winner's.
func RunCreateTrials(t *testing.T, s registry.Store, n int) {
	ctx := ctxT(t)
	for i := range n {
		name := fmt.Sprintf("user.race%06d", i)
		var wg sync.WaitGroup
		var errs [2]error
		var got [2]registry.Entry
		gate := make(chan struct{})
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				got[k], errs[k] = s.Create(ctx, Mailbox(name, fmt.Sprintf("be%d", k), "default"))
			}()
		}
		close(gate)
		wg.Wait()
		ok := 0
		winner := -1
		for k := range 2 {
			switch {
			case errs[k] == nil:
				ok++
				winner = k
			case !errors.Is(errs[k], registry.ErrExists):
				t.Fatalf("trial %d: creator %d failed with %v, want success or ErrExists", i, k, errs[k])
			}
		}
		if ok != 1 {
			t.Fatalf("trial %d: %d creators succeeded, want exactly 1", i, ok)
		}
		stored, err := s.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Server != fmt.Sprintf("be%d", winner) || stored.Revision != got[winner].Revision {
			t.Fatalf("trial %d: stored %s@%d, winner be%d@%d", i, stored.Server, stored.Revision, winner, got[winner].Revision)
		}
	}
	t.Logf("%d two-creator trials: exactly one success each", n)
}

// testWatchPrev: every change written through the store carries the entry
// it replaced or deleted (what a PARTIAL-UPDATE client of the old server
// needs to hear of a move or a delete); a create carries none.
func testWatchPrev(t *testing.T, s registry.Store) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	from, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := mustCreate(t, s, Mailbox("user.mover", "A", "p"))
	moved := c
	moved.SetPrimary(registry.Location{Server: "B", Partition: "p"})
	m, err := s.Update(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "user.mover", m.Revision); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, s.Watch(ctx, from), 3, 10*time.Second)
	if evs[0].Prev != nil {
		t.Errorf("create carries Prev %+v", evs[0].Prev)
	}
	if p := evs[1].Prev; p == nil || p.Primary().Server != "A" || p.Revision != c.Revision {
		t.Errorf("move A->B: Prev %+v, want the entry on A at revision %d", p, c.Revision)
	}
	if evs[1].Entry.Primary().Server != "B" {
		t.Errorf("move: entry %+v", evs[1].Entry)
	}
	if p := evs[2].Prev; evs[2].Type != registry.EventDelete || p == nil || p.Primary().Server != "B" || p.Revision != m.Revision {
		t.Errorf("delete: %+v, want a delete whose Prev is the entry on B at revision %d", evs[2], m.Revision)
	}
}

// testWatchProgress: every backend's watches confirm their progress when
// asked (registry.ProgressRequester). A watch that has delivered every
// change sends an EventProgress at or beyond the store's revision, also
// when the latest revisions carry no mailbox change (a slot write), and a
// change written before the request comes before the confirmation.
func testWatchProgress(t *testing.T, s registry.Store) {
	pr, ok := s.(registry.ProgressRequester)
	if !ok {
		t.Fatalf("%T does not implement registry.ProgressRequester", s)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	from, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Watch(ctx, from)
	// wait for progress: the events before it, in order, and its revision
	progress := func(atLeast int64) []registry.Event {
		t.Helper()
		var changes []registry.Event
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev, ok := <-w:
				if !ok {
					t.Fatalf("watch closed after %d changes", len(changes))
				}
				if ev.Err != nil {
					t.Fatalf("watch error: %v", ev.Err)
				}
				if ev.Type != registry.EventProgress {
					changes = append(changes, ev)
					continue
				}
				if ev.Revision >= atLeast {
					return changes
				}
			case <-deadline:
				t.Fatalf("no progress at or beyond revision %d within 10 s (%d changes came)", atLeast, len(changes))
			}
		}
	}
	c := mustCreate(t, s, Mailbox("user.progress", "A", "p"))
	sl, err := s.CreateSlot(ctx, registry.Slot{Name: "progress", State: registry.SlotLegacy, Locations: []registry.Location{{Server: "A"}}})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rev < sl.Revision || rev < c.Revision {
		t.Fatalf("Revision %d is older than the writes just made (%d, %d)", rev, c.Revision, sl.Revision)
	}
	promised, err := pr.RequestProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if promised < rev {
		t.Fatalf("RequestProgress promised revision %d, older than the store's %d before it", promised, rev)
	}
	if got := progress(promised); len(got) != 1 || got[0].Name != "user.progress" || got[0].Revision != c.Revision {
		t.Fatalf("before the progress: %+v, want the one create at %d", got, c.Revision)
	}
	// Idle: asked again with nothing new, the watch confirms again.
	if promised, err = pr.RequestProgress(ctx); err != nil {
		t.Fatal(err)
	}
	if got := progress(promised); len(got) != 0 {
		t.Fatalf("changes out of nowhere: %+v", got)
	}
}
