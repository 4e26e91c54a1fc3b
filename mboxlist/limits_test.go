package mboxlist

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The boundaries of Check, one byte on each side (the real-Cyrus side of
// the ones that break a frontend is interop/limits_test.go).
func TestCheckBoundaries(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	// a shared name of exactly n bytes made of components of 200 bytes
	shared := func(n int) string {
		var parts []string
		for n > 0 {
			k := min(n, 200)
			if n-k == 1 { // a component cannot be empty
				k--
			}
			parts = append(parts, a(k))
			n -= k + 1
		}
		s := strings.Join(parts, ".")
		return s
	}
	ok := []Entry{
		{Name: "user.fred.Sent", Server: "be1", Partition: "default", ACL: ACL{{"fred", "lrswipkxtecdan"}, {"-bob", "l"}, {"group:staff", "lr0"}}},
		{Name: "example.com!user.jane^doe", Server: "be1:2004"},
		{Name: "user." + a(MaxUserIDLen)},
		{Name: "ex.com!user." + a(MaxUserIDLen-len("@ex.com"))},
		{Name: shared(MaxNameLen)},
		{Name: "shared." + a(MaxNameLen-len("shared."))}, // components have no limit of their own
		{Name: "DELETED." + shared(MaxNameLen) + ".5F000000"},
		{Name: "a", Partition: a(MaxPartitionLen), Server: a(MaxServerLen)},
		{Name: "a", ACL: ACL{{a(MaxIdentifierLen), "l"}}},
		{Name: "a", ACL: ACL{{"anyone", ""}, {"we ird", "lr"}, {`group:a"b`, "l"}, {"pct%x", "lr"}}}, // as testdata/src/types.json
		{Name: "a", UniqueID: a(MaxUniqueIDLen), Type: TypeCalendar | FlagRemote | FlagReserve},
		{Name: "a", Partition: "default"}, // no server: a replicated murder's location
		{Name: "a"},                       // no location at all
	}
	if len(shared(MaxNameLen)) != MaxNameLen || len(shared(MaxNameLen+1)) != MaxNameLen+1 {
		t.Fatal("shared() builds names of the wrong length")
	}
	for _, e := range ok {
		if err := e.Check(nil); err != nil {
			t.Errorf("Check(%.60q) = %v, want nil", e.Name, err)
		}
	}
	bad := []struct {
		e     Entry
		field string
		text  string
	}{
		{Entry{Name: ""}, "name", TextBadName},
		{Entry{Name: "user." + a(MaxUserIDLen+1)}, "name", TextBadName},
		{Entry{Name: "ex.com!user." + a(MaxUserIDLen+1-len("@ex.com"))}, "name", TextBadName},
		{Entry{Name: "DELETED.user." + a(MaxUserIDLen+1) + ".5F000000"}, "name", TextBadName},
		{Entry{Name: shared(MaxNameLen + 1)}, "name", TextBadName},
		{Entry{Name: "shared." + a(MaxNameLen-len("shared.")+1)}, "name", TextBadName},
		{Entry{Name: "DELETED." + shared(MaxDeletedNameLen-16) + ".5F000000"}, "name", TextBadName},
		{Entry{Name: "user.fred\x01"}, "name", TextBadName},
		{Entry{Name: "user.fr\xc3\xa9d"}, "name", TextBadName},
		{Entry{Name: "user.fred\x7f"}, "name", TextBadName},
		{Entry{Name: "$RACL"}, "name", TextBadName},
		{Entry{Name: "a..b"}, "name", TextBadName},
		{Entry{Name: ".a"}, "name", TextBadName},
		{Entry{Name: "a."}, "name", TextBadName},
		{Entry{Name: "!user.fred"}, "name", TextBadName},
		{Entry{Name: "a!b!c"}, "name", TextBadName},
		{Entry{Name: "user"}, "name", TextBadName},
		{Entry{Name: "user.anyone"}, "name", TextBadName},
		{Entry{Name: "ex.com!user.anonymous"}, "name", TextBadName},
		{Entry{Name: "user.%x"}, "name", TextBadName},
		{Entry{Name: "a", Partition: a(MaxPartitionLen + 1)}, "partition", TextBadPartition},
		{Entry{Name: "a", Partition: "de fault"}, "partition", TextBadPartition},
		{Entry{Name: "a", Partition: "a!b"}, "partition", TextBadPartition},
		{Entry{Name: "a", Server: a(MaxServerLen + 1)}, "server", TextBadServer},
		{Entry{Name: "a", Server: "be\n1"}, "server", TextBadServer},
		{Entry{Name: "a", ACL: ACL{{a(MaxIdentifierLen + 1), "l"}}}, "acl[0]", TextBadACL},
		{Entry{Name: "a", ACL: ACL{{"fred", "lq"}}}, "acl[0].rights", TextBadRights},
		{Entry{Name: "a", ACL: ACL{{"", "l"}}}, "acl[0]", TextBadACL},
		{Entry{Name: "a", ACL: ACL{{"-", "l"}}}, "acl[0]", TextBadACL},
		{Entry{Name: "a", ACL: ACL{{"fr\ted", "l"}}}, "acl[0]", TextBadACL},
		{Entry{Name: "a", Type: 0xD}, "type", TextBadValue},
		{Entry{Name: "a", Type: 1 << 12}, "type", TextBadValue},
		{Entry{Name: "a", UniqueID: a(MaxUniqueIDLen + 1)}, "uniqueid", TextBadValue},
		{Entry{Name: "a", UniqueID: "ab cd"}, "uniqueid", TextBadValue},
		{Entry{Name: "a", History: []HistoryItem{{Name: "b\x00"}}}, "history[0].name", TextBadName},
	}
	big := ACL{}
	for i := 0; len(big)*(20+2+2) <= MaxACLLen; i++ {
		big = append(big, ACLItem{ID: fmt.Sprintf("u%019d", i), Rights: "lr"})
	}
	bad = append(bad, struct {
		e     Entry
		field string
		text  string
	}{Entry{Name: "a", ACL: big}, "acl", TextBadACL})
	if err := (&Entry{Name: "a", ACL: big[:len(big)-1]}).Check(nil); err != nil {
		t.Errorf("an ACL of %d bytes: %v", len(big[:len(big)-1].TabString()), err)
	}
	for _, c := range bad {
		err := c.e.Check(nil)
		var ce *CheckError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCyrusLimit) {
			t.Errorf("Check(%.60q, %+v) = %v, want a *CheckError", c.e.Name, c.e.ACL, err)
			continue
		}
		if ce.Field != c.field || ce.Text != c.text {
			t.Errorf("Check(%.60q): field %q text %q, want %q %q (%v)", c.e.Name, ce.Field, ce.Text, c.field, c.text, err)
		}
		if len(err.Error()) > 300 {
			t.Errorf("error too long (%d bytes): %.100s", len(err.Error()), err)
		}
	}
}

func TestSafeForFrontends(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	for name, want := range map[string]bool{
		"user.fred.Sent":                                       true,
		"shared." + x(600):                                     true, // too long for Check, but no owner to lock
		"user." + x(MaxUserIDLen):                              true,
		"user." + x(MaxUserIDLen) + ".Sent":                    true,
		"user." + x(MaxUserIDLen+1):                            false,
		"DELETED.user." + x(MaxUserIDLen+1) + ".5F000000":      false,
		"DELETED.user." + x(MaxUserIDLen) + ".5F000000":        true,
		"DELETED.user." + x(MaxUserIDLen+1):                    true, // the last component is the time: no owner
		"ex.com!user." + x(MaxUserIDLen-7):                     true, // x@ex.com: 247 bytes
		"ex.com!user." + x(MaxUserIDLen-6):                     false,
		"user.fr\x01ed":                                        false,
		"user.fr\xc3\xa9d":                                     false,
		"ex.com!DELETED.user." + x(MaxUserIDLen) + ".5F000000": false,
	} {
		if got := SafeForFrontends(name); got != want {
			t.Errorf("SafeForFrontends(%.40q, %d bytes) = %v, want %v", name, len(name), got, want)
		}
		if want == false {
			if err := CheckName(name, nil); err == nil {
				t.Errorf("%.40q: unsafe for frontends but CheckName accepts it", name)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { SafeForFrontends("example.com!user.fred.Sent") }); n != 0 {
		t.Errorf("SafeForFrontends allocates %v times", n)
	}
}
