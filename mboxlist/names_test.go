package mboxlist

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNameEdges(t *testing.T) {
	cases := []struct{ in, db, back string }{
		{"DELETED.user.fred.x.05f000000", "DELETED\x1fuser\x1ffred\x1fx\x1f5F000000", "DELETED.user.fred.x.5F000000"},
		{"a..b", "a\x1fb", "a.b"},
		{"DELETED.x.0", "x", "x"}, // time 0: not a deleted name (Cyrus drops prefix and time)
	}
	for _, tc := range cases {
		if got := DBName(tc.in, nil); got != tc.db {
			t.Errorf("DBName(%q) = %q, want %q", tc.in, got, tc.db)
		}
		if got := IntNameFromDB(tc.db, nil); got != tc.back {
			t.Errorf("IntNameFromDB(%q) = %q, want %q", tc.db, got, tc.back)
		}
	}
	n := ParseIntName("example.com!DELETED.user.jo^e.Trash.5F000000", &NameConfig{DeletedPrefix: "DELETED"})
	if n.Domain != "example.com" || n.Deleted != 0x5F000000 || n.UserID() != "jo.e@example.com" || !cmp.Equal(n.Boxes, []string{"Trash"}) {
		t.Errorf("%+v", n)
	}
	if got := DBName("user.x", &NameConfig{DeletedPrefix: "TRASH"}); got != "user\x1fx" {
		t.Error(got)
	}
	if !IsDeletedName("TRASH.user.x.A", &NameConfig{DeletedPrefix: "TRASH"}) {
		t.Error("custom deletedprefix")
	}
}

// The byte-mapping fast paths of DBName and IntNameFromDB agree with the
// full mbname algorithm.
func TestNameFastPaths(t *testing.T) {
	alphabet := []byte{'a', 'b', '.', '^', '!', 0x1d, 0x1f, 'D', 'E', 'L', 'T', 'u', 's', 'e', 'r', '5', 'F'}
	var names []string
	var gen func(prefix []byte, n int)
	gen = func(prefix []byte, n int) {
		names = append(names, string(prefix))
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(append(prefix, c), n-1)
		}
	}
	gen(nil, 4)
	names = append(names, "DELETED.user.x.5F", "DELETED", "user.DELETED.x", "DELETEDx.y", "a^b.c", "x!DELETED.a.b.1")
	for _, n := range names {
		if n == "" {
			continue
		}
		if got, want := DBName(n, nil), ParseIntName(n, nil).DBName(nil); got != want {
			t.Fatalf("DBName(%q) = %q, full algorithm %q", n, got, want)
		}
		if got, want := IntNameFromDB(n, nil), ParseDBName(n, nil).IntName(nil); got != want {
			t.Fatalf("IntNameFromDB(%q) = %q, full algorithm %q", n, got, want)
		}
	}
}

func TestDisplay(t *testing.T) {
	cases := map[string]string{
		"user.fred.Entw&APw-rfe":           "user/fred/Entwürfe",
		"example.com!user.jo^e.&ZeVnLIqe-": "user/jo.e/日本語@example.com",
		"shared.bad&-x.&Jjo":               "shared/bad&x/&Jjo",
		"DELETED.user.fred.Old.5F000000":   "DELETED/user/fred/Old/5F000000",
	}
	for in, want := range cases {
		if got := Display(in, '/', nil); got != want {
			t.Errorf("Display(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNames(t *testing.T) {
	cases := []struct{ intname, dbname, owner string }{
		{"user.fred", "user\x1ffred", "fred"},
		{"user.john^doe.Sent", "user\x1fjohn.doe\x1fSent", "john.doe"},
		{"example.com!user.jane.a^b", "example.com\x1duser\x1fjane\x1fa.b", "jane@example.com"},
		{"shared.box", "shared\x1fbox", ""},
		{"DELETED.user.fred.Old.5F000000", "DELETED\x1fuser\x1ffred\x1fOld\x1f5F000000", "fred"},
		{"example.com!DELETED.shared.x.5F000000", "example.com\x1dDELETED\x1fshared\x1fx\x1f5F000000", ""},
		{"user", "user", ""},
	}
	for _, tc := range cases {
		if got := DBName(tc.intname, nil); got != tc.dbname {
			t.Errorf("DBName(%q) = %q, want %q", tc.intname, got, tc.dbname)
		}
		if got := IntNameFromDB(tc.dbname, nil); got != tc.intname {
			t.Errorf("IntNameFromDB(%q) = %q, want %q", tc.dbname, got, tc.intname)
		}
		if got := Owner(tc.intname, nil); got != tc.owner {
			t.Errorf("Owner(%q) = %q, want %q", tc.intname, got, tc.owner)
		}
	}
	if !IsDeletedName("DELETED.user.fred.5F000000", nil) || IsDeletedName("user.DELETED.x", nil) {
		t.Error("IsDeletedName")
	}
	if got := DBName("a.b", &NameConfig{DefaultDomain: "x.org"}); got != "a\x1fb" {
		t.Errorf("got %q", got)
	}
	if got := DBName("x.org!a.b", &NameConfig{DefaultDomain: "x.org"}); got != "a\x1fb" {
		t.Errorf("default domain not dropped: %q", got)
	}
}

func TestInboxName(t *testing.T) {
	for in, want := range map[string]string{
		"fred": "user.fred", "fred.smith": "user.fred^smith", "jane@example.com": "example.com!user.jane",
		"a@b@example.com": "example.com!user.a@b", // the last '@' starts the domain, as in Cyrus
		"":                "", "@x": "", "a@": "", "a b": "", "a^b": "", "x/y": "",
	} {
		got, ok := InboxName(in)
		if got != want || ok != (want != "") {
			t.Errorf("InboxName(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

// MapDBName is DBName(n, nil) for every name in the form Cyrus writes it
// (DBName is checked against real Cyrus's keys in cyrus_test.go), and
// UnmapDBName inverts it; the registry keys and MUPDATE's order use it.
func TestMapDBName(t *testing.T) {
	tests := []struct{ name, db string }{
		{"user.fred", "user\x1Ffred"},
		{"user.john^doe.Sent", "user\x1Fjohn.doe\x1FSent"},
		{"example.com!user.jane.a^b", "example.com\x1Duser\x1Fjane\x1Fa.b"},
		{"example.com!shared.x y", "example.com\x1Dshared\x1Fx y"},
		{"DELETED.user.fred.Old.5F000000", "DELETED\x1Fuser\x1Ffred\x1FOld\x1F5F000000"},
		{"user.alice.&AOk-t&AOk- 2024", "user\x1Falice\x1F&AOk-t&AOk- 2024"},
		{"shared", "shared"},
		{"user.foo^bar", "user\x1Ffoo.bar"},
	}
	for _, tc := range tests {
		if got := MapDBName(tc.name); got != tc.db {
			t.Errorf("MapDBName(%q) = %q, want %q", tc.name, got, tc.db)
		}
		if got := DBName(tc.name, nil); got != tc.db {
			t.Errorf("DBName(%q, nil) = %q, MapDBName gives %q", tc.name, got, tc.db)
		}
		if got := UnmapDBName(tc.db); got != tc.name {
			t.Errorf("UnmapDBName(%q) = %q, want %q", tc.db, got, tc.name)
		}
	}
}
