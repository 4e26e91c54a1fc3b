package registrytest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// visibleFixture is a registry with every case of the visible rule
// (docs/entry-model.md, "Who sees a mailbox").
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
