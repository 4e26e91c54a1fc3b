package etcd_test

import (
	"context"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/registrytest"
)

// TestImportTxnBytes: an Import puts at most ImportTxnBytes of keys and
// values in one transaction (one raft entry, which members keep in
// memory), both when every name is new (one transaction per chunk) and
// when names exist and are rewritten one by one. Every key a transaction
// wrote carries its revision, so the keys of one revision are what one
// transaction put.
func TestImportTxnBytes(t *testing.T) {
	c := sharedCluster(t)
	ctx := context.Background()
	const limit = 2048
	s, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: "/txnbytes", MaxTxnOps: 128, ImportTxnBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var es []registry.Entry
	for i := range 300 {
		es = append(es, registrytest.Mailbox(fmt.Sprintf("user.u%04d.Archive", i), "be1", "default", fmt.Sprintf("u%04d", i), "lrswipkxtecda", "group:staff", "lr"))
	}
	check := func(what string, want int) {
		t.Helper()
		r, err := s.Client().Get(ctx, "/txnbytes/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		bytesAt := map[int64]int{}
		entries := 0
		for _, kv := range r.Kvs {
			bytesAt[kv.ModRevision] += len(kv.Key) + len(kv.Value)
			if string(kv.Key[:len("/txnbytes/m/")]) == "/txnbytes/m/" {
				entries++
			}
		}
		if entries != want {
			t.Fatalf("%s: %d entries stored, want %d", what, entries, want)
		}
		for rev, n := range bytesAt {
			if n > limit {
				t.Errorf("%s: revision %d put %d bytes of keys and values, more than ImportTxnBytes %d", what, rev, n, limit)
			}
		}
		if len(bytesAt) < 2 {
			t.Errorf("%s: everything in %d revisions", what, len(bytesAt))
		}
	}
	st, err := s.Import(ctx, es)
	if err != nil || st.Created != len(es) {
		t.Fatalf("import = %+v, %v", st, err)
	}
	check("new names", len(es))
	// every name exists: the per-name transactions
	for i := range es {
		es[i].ACL = append(es[i].ACL, mboxlist.ACLItem{ID: "anyone", Rights: "l"})
	}
	st, err = s.Import(ctx, es)
	if err != nil || st.Updated != len(es) {
		t.Fatalf("re-import = %+v, %v", st, err)
	}
	check("changed names", len(es))
}
