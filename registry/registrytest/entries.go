package registrytest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

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
