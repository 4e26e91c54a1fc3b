package registry

import (
	"errors"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/mboxlist"
)

func TestDBName(t *testing.T) {
	tests := []struct{ name, db string }{
		{"user.fred", "user\x1Ffred"},
		{"user.john^doe.Sent", "user\x1Fjohn.doe\x1FSent"},
		{"example.com!user.jane.a^b", "example.com\x1Duser\x1Fjane\x1Fa.b"},
		{"DELETED.user.fred.Old.5F000000", "DELETED\x1Fuser\x1Ffred\x1FOld\x1F5F000000"},
		{"shared", "shared"},
	}
	for _, tc := range tests {
		if got := DBName(tc.name); got != tc.db {
			t.Errorf("DBName(%q) = %q, want %q", tc.name, got, tc.db)
		}
		if got := NameFromDB(tc.db); got != tc.name {
			t.Errorf("NameFromDB(%q) = %q, want %q", tc.db, got, tc.name)
		}
	}
}

// The order Cyrus 3.6 dumps in (mupdate-protocol.md §10, observed on the
// real master): DELETED first, then shared, then user, and a child
// ("user.alice.Sent") before a sibling with a space ("user.alice x").
func TestCyrusOrder(t *testing.T) {
	want := []string{
		"DELETED.user.alice.Old.6B0267B0",
		"example.com!user.jane",
		"shared",
		"shared.lab",
		"user.alice",
		"user.alice.&AOk-t&AOk- 2024",
		"user.alice.Sent",
		"user.alice x",
		"user.alicex",
	}
	got := append([]string(nil), want...)
	sort.Slice(got, func(i, j int) bool { return DBName(got[i]) < DBName(got[j]) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestPrefix(t *testing.T) {
	r, err := Prefix("user.foo")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"user.foo": true, "user.foo.bar": true, "user.foobar": false, "user.fo": false, "user.foo bar": false} {
		if got := r.Match(DBName(name)); got != want {
			t.Errorf("Prefix(user.foo).Match(%q) = %v, want %v", name, got, want)
		}
	}
	d, err := Prefix("example.com!")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Match(DBName("example.com!user.x")) || d.Match(DBName("example.org!user.x")) || d.Match(DBName("user.x")) {
		t.Error("domain prefix matches wrongly")
	}
	for _, bad := range []string{"user..x", ".x", "a\x1Fb", "!x", "a!b!c"} {
		if _, err := Prefix(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Prefix(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCanTransition(t *testing.T) {
	tests := []struct {
		from, to SlotState
		ok       bool
	}{
		{SlotLegacy, SlotMirrored, true},
		{SlotMirrored, SlotCutover, false},
		{SlotCutover, SlotShadowClean, true},
		{SlotCutover, SlotLegacy, true},
		{SlotRetired, SlotCutover, false},
		{SlotCutover, SlotCutover, false},
		{"bogus", SlotLegacy, false},
	}
	for _, tc := range tests {
		if got := CanTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("CanTransition(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
}

func TestTombstonedIsConflict(t *testing.T) {
	err := E("create", "user.x", ErrTombstoned)
	if !errors.Is(err, ErrTombstoned) || !errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
		t.Errorf("errors.Is on %v wrong", err)
	}
}

// TestDBNameAgreesWithMboxlist: the registry's order key is the dbname the
// entry-model package computes as Cyrus 3.6 does (checked there against real
// Cyrus), for every valid name it does not normalise.
func TestDBNameAgreesWithMboxlist(t *testing.T) {
	for _, name := range append([]string{
		"user.john^doe.Sent", "example.com!user.jane.a^b", "example.com!shared.x y",
		"DELETED.user.fred.Old.5F000000", "user.alice.&AOk-t&AOk- 2024",
	}, cyrusOrderNames...) {
		if got, want := DBName(name), mboxlist.DBName(name, nil); got != want {
			t.Errorf("DBName(%q) = %q, mboxlist.DBName = %q", name, got, want)
		}
	}
}

var cyrusOrderNames = []string{"shared", "shared.lab", "user.foo", "user.foo x", "user.foo^bar", "user.foobar.Trash"}
