package shadow_test

import (
	"context"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
	"github.com/murderkit/murderkit/shadow"
)

// visibleRuleEntries exercise each part of Cyrus's LIST "" "*" rule for a
// non-admin (docs/entry-model.md, "Who sees a mailbox"). noacl is the
// registry's own-hierarchy contract, where real Cyrus 3.6.1 differs (it
// hides it from alice; the page says how that was seen); negself is hidden
// as Cyrus hides it.
var visibleRuleEntries = []struct {
	name, mbtype string
	acl          map[string]string
}{
	{"user.alice", "e", map[string]string{"alice": "lrswipkxtecdan"}},
	{"user.alice.Sent", "e", map[string]string{"alice": "lrswipkxtecdan"}},
	{"user.alice.noacl", "e", map[string]string{}},                                           // own hierarchy: no l needed
	{"user.alice.negself", "e", map[string]string{"alice": "lrswipkxtecdan", "-alice": "l"}}, // but a negative l hides it (Cyrus 3.6.1)
	{"user.alice.int", "ei", map[string]string{"alice": "lr"}},                               // intermediate: never with "*"
	{"user.bob", "e", map[string]string{"bob": "lrswipkxtecdan", "alice": "r"}},              // r without l
	{"user.bob.x", "e", map[string]string{"anyone": "lr", "-alice": "l"}},                    // negative wins
	{"user.bob.y", "e", map[string]string{"group:staff": "lr"}},                              // through a group
	{"user.bob.gone", "ed", map[string]string{"anyone": "lr"}},                               // tombstone
	{"user.bob.res", "ez", map[string]string{"anyone": "lr"}},                                // reserved
	{"user.bob.cal", "c", map[string]string{"anyone": "lr"}},                                 // not email
	{"DELETED.user.bob.Old.5F000000", "e", map[string]string{"anyone": "lr"}},                // delayed delete
	{"user.rem", "er", map[string]string{"anyone": "l"}},                                     // remote: listable
	{"user.john^doe", "e", map[string]string{"john.doe": "lrswipkxtecdan"}},                  // a dot in the userid
	{"shared.pub", "e", map[string]string{"anyone": "lr"}},
	{"shared.anon", "e", map[string]string{"anonymous": "lr"}},
	{"shared.grpneg", "e", map[string]string{"anyone": "lr", "-group:staff": "l"}},
	{"example.com!user.dora", "e", map[string]string{"dora@example.com": "lrswipkxtecdan"}},
	{"example.com!pub", "e", map[string]string{"anyone": "lr"}},
}

var visibleRuleCases = []struct {
	user   string
	groups []string
	want   []string
}{
	{"alice", []string{"staff"}, []string{"shared.pub", "user.alice", "user.alice.Sent", "user.alice.noacl", "user.bob.y", "user.rem"}},
	{"carol", nil, []string{"shared.grpneg", "shared.pub", "user.bob.x", "user.rem"}},
	{"anonymous", nil, []string{"shared.anon", "shared.grpneg", "shared.pub", "user.bob.x", "user.rem"}},
	{"john.doe", nil, []string{"shared.grpneg", "shared.pub", "user.bob.x", "user.john^doe", "user.rem"}},
	{"dora@example.com", []string{"group:staff"}, []string{"example.com!pub", "example.com!user.dora"}},
}

// TestVisibleRuleEveryImplementation runs one table through every place
// that answers "which mailboxes may this user see": the entry predicate
// (mboxlist.Entry.ListableBy), the registry's reverse-ACL index
// (registry.VisibleRules, here on a goleveldb store) and the dump scan
// (shadow.VisibleTo).
func TestVisibleRuleEveryImplementation(t *testing.T) {
	ctx := context.Background()
	var dump []shadow.DumpEntry
	var entries []registry.Entry
	for _, x := range visibleRuleEntries {
		typ, err := mboxlist.ParseType36(x.mbtype)
		if err != nil {
			t.Fatal(err)
		}
		e := mboxlist.Entry{Name: x.name, Type: typ, Partition: "default", ACL: mboxlist.ACL{}}
		for id, r := range x.acl {
			e.ACL = append(e.ACL, mboxlist.ACLItem{ID: id, Rights: r})
		}
		sort.Slice(e.ACL, func(i, j int) bool { return e.ACL[i].ID < e.ACL[j].ID })
		if typ.Has(mboxlist.FlagRemote) {
			e.Server = "be1"
		}
		entries = append(entries, registry.Entry{Entry: e})
		dump = append(dump, shadow.DumpEntry{Name: x.name, MBType: x.mbtype, ACL: x.acl})
	}
	st, err := leveldb.Open(ctx, t.TempDir(), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, e := range entries {
		if _, err := st.Put(ctx, e); err != nil {
			t.Fatalf("put %s: %v", e.Name, err)
		}
	}
	sorted := func(s []string) []string { sort.Strings(s); return s }
	for _, tc := range visibleRuleCases {
		who := mboxlist.NewIdentity(tc.user, tc.groups)
		var pred []string
		for i := range entries {
			if entries[i].ListableBy(who, nil) {
				pred = append(pred, entries[i].Name)
			}
		}
		idx, err := st.Visible(ctx, tc.user, tc.groups)
		if err != nil {
			t.Fatalf("registry Visible(%s): %v", tc.user, err)
		}
		var scan []string
		for _, v := range shadow.VisibleTo(dump, tc.user, tc.groups) {
			scan = append(scan, v.Name)
		}
		for impl, got := range map[string][]string{"mboxlist.ListableBy": pred, "registry (leveldb) Visible": idx, "shadow.VisibleTo": scan} {
			if d := cmp.Diff(tc.want, sorted(got)); d != "" {
				t.Errorf("%s for %s %v (-want +got):\n%s", impl, tc.user, tc.groups, d)
			}
		}
	}
}
