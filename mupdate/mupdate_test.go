package mupdate_test

import (
	"strings"
	"testing"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
)

// CompareNames must agree with the byte order of mboxlist.MapDBName (the mailboxes.db
// key order of Cyrus 3.6).
func TestCompareNamesMatchesDBName(t *testing.T) {
	names := []string{"", "a", "user.alice", "user.alice.Sent", "user.alice-1", "user.alice^x", "user.alice.&AOk-t&AOk- 2024",
		"example.com!user.x", "example.com!user.x.y", "ex.com!a", "DELETED.user.a.6B0267B0", "shared", "shared.lab", "a!b!c", "a.b!c"}
	for _, a := range names {
		for _, b := range names {
			want := strings.Compare(mboxlist.MapDBName(a), mboxlist.MapDBName(b))
			if got := mupdate.CompareNames(a, b); got != want {
				t.Errorf("CompareNames(%q, %q) = %d, DBName order says %d", a, b, got, want)
			}
		}
	}
	if got := mboxlist.MapDBName("example.com!user.john^doe.Sent"); got != "example.com\x1duser\x1fjohn.doe\x1fSent" {
		t.Errorf("DBName = %q", got)
	}
}

func FuzzCompareNames(f *testing.F) {
	f.Add("user.a", "user.a.b")
	f.Add("d!x.y", "d.x!y")
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := mupdate.CompareNames(a, b), strings.Compare(mboxlist.MapDBName(a), mboxlist.MapDBName(b)); got != want {
			t.Fatalf("CompareNames(%q, %q) = %d, want %d", a, b, got, want)
		}
	})
}
