package etcd_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/registrytest"
)

// TestJSONEntriesRead: an entry stored as JSON (clusters written before the
// binary form) is read, counted as unchanged by a re-import, and rewritten
// in the binary form by an update, with its index rows kept right.
func TestJSONEntriesRead(t *testing.T) {
	c := sharedCluster(t)
	ctx := context.Background()
	s, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: "/jsonold", MaxTxnOps: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: "/jsonold", MaxTxnOps: 128, JSONEntries: true})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	e := registrytest.Mailbox("user.alice", "be1", "default", "alice", "lrswipkxtecda", "bob", "lr")
	if _, err := old.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	raw, err := s.Client().Get(ctx, "/jsonold/m/"+registry.DBName("user.alice"))
	if err != nil || len(raw.Kvs) != 1 || raw.Kvs[0].Value[0] != '{' {
		t.Fatalf("JSON store wrote %v, %v", raw, err)
	}
	got, err := s.Get(ctx, "user.alice")
	if err != nil || got.Server != "be1" {
		t.Fatalf("Get of a JSON entry = %+v, %v", got, err)
	}
	st, err := s.Import(ctx, []registry.Entry{e})
	if err != nil || st.Unchanged != 1 {
		t.Fatalf("re-import of the JSON entry = %+v, %v; want 1 unchanged", st, err)
	}
	got.ACL = got.ACL[:1] // bob loses l
	if _, err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	raw, err = s.Client().Get(ctx, "/jsonold/m/"+registry.DBName("user.alice"))
	if err != nil || len(raw.Kvs) != 1 || raw.Kvs[0].Value[0] == '{' {
		t.Fatalf("update did not store the binary form: %v, %v", raw, err)
	}
	if v, err := s.Visible(ctx, "bob", nil); err != nil || len(v) != 0 {
		t.Fatalf("bob sees %v, %v after losing l", v, err)
	}
	if v, err := old.Visible(ctx, "alice", nil); err != nil || len(v) != 1 {
		t.Fatalf("alice sees %v, %v", v, err)
	}
}

// TestNoListableRows: the etcd store writes no "listable" index row (one key
// fewer per entry); Visible reads the user's own entries instead, so a
// stale row left by a cluster written before is never believed, and is
// removed with its entry.
func TestNoListableRows(t *testing.T) {
	c := sharedCluster(t)
	ctx := context.Background()
	s, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: "/nolistable", MaxTxnOps: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cli := s.Client()
	e := registrytest.Mailbox("user.carol", "be1", "default", "carol", "lrswipkxtecda", "bob", "lr")
	if _, err := s.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	imp := registrytest.Mailbox("user.carol.Sent", "be1", "default", "carol", "lrswipkxtecda")
	if _, err := s.Import(ctx, []registry.Entry{imp}); err != nil {
		t.Fatal(err)
	}
	rows, err := cli.Get(ctx, "/nolistable/x/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range rows.Kvs {
		keys = append(keys, string(kv.Key))
	}
	want := []string{
		"/nolistable/x/" + "a\x00+bob\x00" + registry.DBName("user.carol"),
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Fatalf("index rows (-want +got):\n%s", diff)
	}
	// Rows as a cluster written before this layout held them: one for a
	// name that does not exist, one for carol's INBOX.
	ghost := "/nolistable/x/" + registry.IndexListable + registry.DBName("user.carol.Ghost")
	inbox := "/nolistable/x/" + registry.IndexListable + registry.DBName("user.carol")
	for _, k := range []string{ghost, inbox} {
		if _, err := cli.Put(ctx, k, ""); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.Visible(ctx, "carol", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"user.carol", "user.carol.Sent"}, v); diff != "" {
		t.Fatalf("carol sees (-want +got):\n%s", diff)
	}
	got, err := s.Get(ctx, "user.carol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "user.carol", got.Revision); err != nil {
		t.Fatal(err)
	}
	left, err := cli.Get(ctx, inbox)
	if err != nil || len(left.Kvs) != 0 {
		t.Fatalf("the INBOX's old listable row is still there after its delete: %v, %v", left, err)
	}
}

// TestNoOwnRows: the etcd store writes no index row of a user on the user's
// own hierarchy (registry.OwnRow): the owner's `l` on user.dave.*, also in
// a virtual domain and with a negative right. Rows of other users, anyone
// and groups are written. Visible answers as before; rows of the own kind
// that a cluster written before holds are removed when their entry is
// rewritten or deleted.
func TestNoOwnRows(t *testing.T) {
	c := sharedCluster(t)
	ctx := context.Background()
	s, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: "/noown", MaxTxnOps: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cli := s.Client()
	all := "lrswipkxtecda"
	entries := []registry.Entry{
		registrytest.Mailbox("user.dave", "be1", "default", "dave", all, "erin", "lr"),
		registrytest.Mailbox("user.dave.Sent", "be1", "default", "dave", all, "group:staff", "lr", "-dave", "l"),
		registrytest.Mailbox("user.davey", "be1", "default", "davey", all, "dave", "lr", "anyone", "r"),
		registrytest.Mailbox("user.erin", "be1", "default", "erin", all, "anyone", "lr"),
		registrytest.Mailbox("example.com!user.dave", "be1", "default", "dave@example.com", all, "dave", "lr"),
		registrytest.Mailbox("shared.news", "be1", "default", "dave", all),
	}
	if _, err := s.Create(ctx, entries[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, entries[1:]); err != nil {
		t.Fatal(err)
	}
	rows := func() []string {
		t.Helper()
		r, err := cli.Get(ctx, "/noown/x/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, kv := range r.Kvs {
			keys = append(keys, string(kv.Key))
		}
		return keys
	}
	x := "/noown/x/"
	want := []string{
		x + "a\x00+anyone\x00" + registry.DBName("user.erin"),
		x + "a\x00+dave\x00" + registry.DBName("shared.news"),
		x + "a\x00+dave\x00" + registry.DBName("user.davey"),
		x + "a\x00+erin\x00" + registry.DBName("user.dave"),
		x + "a\x00+group:staff\x00" + registry.DBName("user.dave.Sent"),
		x + "aexample.com\x00+dave\x00" + registry.DBName("example.com!user.dave"),
	}
	if diff := cmp.Diff(want, rows()); diff != "" {
		t.Fatalf("index rows (-want +got):\n%s", diff)
	}
	visible := map[string][]string{
		"dave":             {"user.dave", "user.davey", "user.erin", "shared.news"}, // -dave l hides user.dave.Sent from dave
		"dave@example.com": {"example.com!user.dave"},
		"erin":             {"user.erin", "user.dave"},
		"davey":            {"user.davey", "user.erin"},
	}
	check := func(when string) {
		t.Helper()
		for u, w := range visible {
			got, err := s.Visible(ctx, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(w, got); diff != "" {
				t.Fatalf("%s: %s sees (-want +got):\n%s", when, u, diff)
			}
		}
		got, err := s.Visible(ctx, "fred", []string{"staff"})
		if err != nil || !cmp.Equal(got, []string{"user.dave.Sent", "user.erin"}) {
			t.Fatalf("%s: fred in group staff sees %v, %v", when, got, err)
		}
	}
	check("new layout")
	// Rows as a cluster written before this layout held them.
	old := []string{
		x + "a\x00+dave\x00" + registry.DBName("user.dave"),
		x + "a\x00+dave\x00" + registry.DBName("user.dave.Sent"),
		x + "a\x00-dave\x00" + registry.DBName("user.dave.Sent"),
	}
	for _, k := range old {
		if _, err := cli.Put(ctx, k, ""); err != nil {
			t.Fatal(err)
		}
	}
	check("old rows present")
	e, err := s.Get(ctx, "user.dave.Sent")
	if err != nil {
		t.Fatal(err)
	}
	e.Partition = "p2"
	if _, err := s.Update(ctx, e); err != nil {
		t.Fatal(err)
	}
	e, err = s.Get(ctx, "user.dave")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "user.dave", e.Revision); err != nil {
		t.Fatal(err)
	}
	visible["dave"] = visible["dave"][1:]
	visible["erin"] = visible["erin"][:1]
	check("after update and delete")
	for _, k := range old {
		r, err := cli.Get(ctx, k)
		if err != nil || len(r.Kvs) != 0 {
			t.Fatalf("old own row %q still there after its entry was rewritten or deleted: %v, %v", k, r, err)
		}
	}
}

// TestKeyedEntries: the store writes entries in the keyed compact form
// (registry.AppendEntryKeyed: first byte 3, the name taken from the key);
// an entry in the compact form of before (what bridges built before wrote,
// and what ?entries=compact keeps writing) is read, counted as unchanged by
// a re-import and rewritten in the keyed form by an update; a store writing
// the compact form reads keyed entries in Get, List and Watch.
func TestKeyedEntries(t *testing.T) {
	c := sharedCluster(t)
	ctx := context.Background()
	s, err := registry.Open(ctx, c.URL("/keyed", "maxtxnops=128"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old, err := registry.Open(ctx, c.URL("/keyed", "maxtxnops=128&entries=compact"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := registry.Open(ctx, c.URL("/keyed", "entries=zip")); err == nil || !strings.Contains(err.Error(), "entries") {
		t.Fatalf("entries=zip: %v", err)
	}
	cli := s.(*etcd.Store).Client()
	raw := func(name string) []byte {
		t.Helper()
		r, err := cli.Get(ctx, "/keyed/m/"+registry.DBName(name))
		if err != nil || len(r.Kvs) != 1 {
			t.Fatalf("raw %s: %v, %v", name, r, err)
		}
		return r.Kvs[0].Value
	}
	e := registrytest.Mailbox("example.com!user.jane^doe", "be1", "default", "jane.doe@example.com", "lrswipkxtecdan", "bob@example.com", "lr")
	if _, err := old.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	compact := raw(e.Name)
	if compact[0] != 1 {
		t.Fatalf("entries=compact wrote first byte %#x", compact[0])
	}
	got, err := s.Get(ctx, e.Name)
	if err != nil || got.Server != "be1" || len(got.ACL) != 2 {
		t.Fatalf("Get of a compact entry = %+v, %v", got, err)
	}
	st, err := s.Import(ctx, []registry.Entry{e})
	if err != nil || st.Unchanged != 1 {
		t.Fatalf("re-import of the compact entry = %+v, %v; want 1 unchanged", st, err)
	}
	// A watch of the compact-writing store sees the keyed write.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := old.Watch(wctx, got.Revision)
	got.Locations = []registry.Location{{Server: "be1", Partition: "p2"}}
	got.Normalize()
	upd, err := s.Update(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	keyed := raw(e.Name)
	if keyed[0] != 3 || len(keyed) >= len(compact) {
		t.Fatalf("update stored first byte %#x, %d bytes (compact: %d)", keyed[0], len(keyed), len(compact))
	}
	if bytes.Contains(keyed, []byte("jane")) {
		t.Fatalf("keyed form still holds the name or the owner: %q", keyed)
	}
	want := upd
	for _, r := range []registry.Reader{s, old} {
		g, err := r.Get(ctx, e.Name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, g); diff != "" {
			t.Fatalf("Get of the keyed entry (-want +got):\n%s", diff)
		}
		var listed []registry.Entry
		if _, err := r.List(ctx, "", func(e registry.Entry) error { listed = append(listed, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]registry.Entry{want}, listed); diff != "" {
			t.Fatalf("List of the keyed entry (-want +got):\n%s", diff)
		}
	}
	for seen := false; !seen; {
		select {
		case ev := <-events:
			if ev.Err != nil || ev.Type != registry.EventPut || ev.Entry.Name != e.Name {
				t.Fatalf("watch event %+v", ev)
			}
			if ev.Revision == upd.Revision {
				if ev.Entry.Partition != "p2" || ev.Prev == nil || ev.Prev.Partition != "default" || len(ev.Prev.ACL) != 2 {
					t.Fatalf("watch event of the keyed write %+v", ev)
				}
				seen = true
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event for the keyed write")
		}
	}
	if v, err := s.Visible(ctx, "bob@example.com", nil); err != nil || !cmp.Equal(v, []string{e.Name}) {
		t.Fatalf("bob sees %v, %v", v, err)
	}
	if v, err := old.Visible(ctx, "jane.doe@example.com", nil); err != nil || !cmp.Equal(v, []string{e.Name}) {
		t.Fatalf("jane sees %v, %v", v, err)
	}
}
