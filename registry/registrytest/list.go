package registrytest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/murderkit/murderkit/registry"
)

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
