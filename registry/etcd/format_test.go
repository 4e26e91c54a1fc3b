package etcd_test

import (
	"context"
	"testing"

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
