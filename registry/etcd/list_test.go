package etcd_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/registrytest"
)

// TestListCountsLinearly: etcd counts every key of a request's range, not
// only the page it returns, so List reads windows of the range. Over a
// whole List the keys etcd counts grow with the list, not with its square
// (plain paging would count about n²/(2·page) keys: 100 times n here), and
// the windows still cover the range exactly, also on skewed names (one
// user holding most folders, thousands of one-folder users, shared
// folders) and on a prefix.
func TestListCountsLinearly(t *testing.T) {
	c := sharedCluster(t)
	ctx := context.Background()
	s, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: "/pages", MaxTxnOps: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const page = 64
	etcd.SetPageSize(s, page)
	var batch []registry.Entry
	for i := range 7000 {
		batch = append(batch, registrytest.Mailbox(fmt.Sprintf("user.big.f%05d", i), "be1", "default", "big", "lrswipkxtecdan"))
	}
	for u := range 5000 {
		batch = append(batch, registrytest.Mailbox(fmt.Sprintf("user.u%04d", u), "be1", "default", fmt.Sprintf("u%04d", u), "lrswipkxtecdan"))
	}
	for i := range 800 {
		batch = append(batch, registrytest.Mailbox(fmt.Sprintf("shared.s%03d.x%d", i%100, i), "be1", "default", "anyone", "lr"))
	}
	if _, err := s.Import(ctx, batch); err != nil {
		t.Fatal(err)
	}
	n := int64(len(batch))
	want := make([]string, 0, len(batch))
	for _, e := range batch {
		want = append(want, registry.DBName(e.Name))
	}
	sort.Strings(want)
	for i, db := range want {
		want[i] = registry.NameFromDB(db)
	}
	list := func(prefix string) []string {
		var got []string
		if _, err := s.List(ctx, prefix, func(e registry.Entry) error {
			got = append(got, e.Name)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := etcd.Counted(s)
	got := list("")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("List (-want +got):\n%s", diff)
	}
	if counted := etcd.Counted(s) - before; counted > 40*n {
		t.Errorf("a List of %d entries in pages of %d had etcd count %d keys (%.1f per entry); want at most 40 per entry", n, page, counted, float64(counted)/float64(n))
	} else {
		t.Logf("a List of %d entries in pages of %d: etcd counted %d keys (%.1f per entry)", n, page, counted, float64(counted)/float64(n))
	}
	var wantBig []string
	for _, name := range want {
		if len(name) > 9 && name[:9] == "user.big." {
			wantBig = append(wantBig, name)
		}
	}
	if diff := cmp.Diff(wantBig, list("user.big")); diff != "" {
		t.Fatalf(`List("user.big") (-want +got):\n%s`, diff)
	}
	if diff := cmp.Diff([]string{"user.u0042"}, list("user.u0042")); diff != "" {
		t.Fatalf(`List("user.u0042") (-want +got):\n%s`, diff)
	}
}
