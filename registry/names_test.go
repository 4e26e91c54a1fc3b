package registry

import (
	"errors"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The order Cyrus 3.6 dumps in (docs/mupdate.md, "Streaming and the slave"; observed on the
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
