package mboxlist

import (
	"errors"
	"testing"
)

func TestTypes(t *testing.T) {
	cases := []struct {
		s    string
		want MBType
		out  string
	}{
		{"e", TypeEmail, "e"}, {"", TypeEmail, "e"}, {"r", FlagRemote, "er"}, {"d", FlagDeleted, "ed"},
		{"erz", FlagRemote | FlagReserve, "erz"}, {"cdl", TypeCalendar | FlagDeleted | FlagLegacyDirs, "cdl"},
		{"ef", TypeSieve, "f"}, {"f", TypeSieve, "f"}, {"ezrmdil", FlagRemote | FlagReserve | FlagMoving | FlagDeleted | FlagIntermediate | FlagLegacyDirs, "edmrzil"},
		{"n", TypeNetnews, "n"}, {"j", TypeJMAPNotify, "j"},
	}
	for _, tc := range cases {
		got, err := ParseType36(tc.s)
		if err != nil || got != tc.want || got.String() != tc.out {
			t.Errorf("ParseType36(%q) = %v (%q), %v; want %v %q", tc.s, uint32(got), got, err, uint32(tc.want), tc.out)
		}
	}
	for _, bad := range []string{"ex", "cf", "ee"} {
		if _, err := ParseType36(bad); err == nil {
			t.Errorf("ParseType36(%q) accepted", bad)
		}
	}
	// legacy numbering
	legacy := []struct {
		n    uint32
		t    MBType
		lets string
	}{
		{0, TypeEmail, ""}, {1, FlagRemote, "r"}, {3, FlagRemote | FlagReserve, "rz"}, {4, TypeNetnews, "n"},
		{8 | 1, FlagMoving | FlagRemote, "mr"}, {16, FlagDeleted, "d"}, {32, TypeCalendar, "c"}, {64, TypeAddressbook, "a"},
		{128, TypeCollection, "b"}, {256, FlagIntermediate, "i"}, {512, TypeSubmission, "s"}, {1024, TypePushSub, "p"},
		{16 | 32, TypeCalendar | FlagDeleted, "dc"},
	}
	for _, tc := range legacy {
		got, err := FromLegacyNumber(tc.n)
		if err != nil || got != tc.t {
			t.Errorf("FromLegacyNumber(%d) = %v, %v", tc.n, got, err)
		}
		n, err := got.LegacyNumber(V34)
		if err != nil || n != tc.n {
			t.Errorf("LegacyNumber(%v) = %d, %v", got, n, err)
		}
		l, _ := got.LegacyLetters(V34)
		if l != tc.lets {
			t.Errorf("LegacyLetters(%v) = %q, want %q", got, l, tc.lets)
		}
		back, err := ParseLegacyLetters(l)
		if err != nil || back != got {
			t.Errorf("ParseLegacyLetters(%q) = %v, %v", l, back, err)
		}
	}
	for _, bad := range []uint32{2048, 32 | 64} {
		if _, err := FromLegacyNumber(bad); err == nil {
			t.Errorf("FromLegacyNumber(%d) accepted", bad)
		}
	}
	if _, err := TypeCollection.LegacyNumber(V25); !errors.Is(err, ErrUnrepresentable) {
		t.Errorf("collection in 2.5: %v", err)
	}
	if _, err := TypeCalendar.LegacyNumber(V24); !errors.Is(err, ErrUnrepresentable) {
		t.Errorf("calendar in 2.4: %v", err)
	}
	if _, err := FlagIntermediate.LegacyNumber(V30); !errors.Is(err, ErrUnrepresentable) {
		t.Errorf("intermediate in 3.0: %v", err)
	}
	if n, err := (FlagRemote | FlagLegacyDirs).LegacyNumber(V24); err != nil || n != 1 {
		t.Errorf("remote+l in 2.4 = %d, %v", n, err)
	}
}
