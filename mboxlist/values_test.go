package mboxlist

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Values printed by real Cyrus 3.6.1 (cyr_dbtool show after ctl_mboxlist -u;
// cyrus-formats.md §3.4 and the session notes in docs/entry-model.md).
var golden36 = []struct {
	name  string
	key   string
	value string
	entry Entry
}{
	{
		name:  "N plain",
		key:   "Nuser\x1ffred",
		value: "%(T e I abc-1 P default V 1600000000 C 1 F 5 M 1795327773 A %(fred lrswipkxtecdan anyone lrs -bob l))",
		entry: Entry{Name: "user.fred", UniqueID: "abc-1", Partition: "default", UIDValidity: 1600000000, CreatedModseq: 1, FolderModseq: 5, Mtime: 1795327773,
			ACL: ACL{{"fred", "lrswipkxtecdan"}, {"anyone", "lrs"}, {"-bob", "l"}}},
	},
	{
		name:  "N calendar remote server",
		key:   "Nuser\x1ffred\x1f#calendars",
		value: "%(T c I abc-2 P default S backend1 V 1600000001 M 1795327773 A %(fred lrswipkxtecdan))",
		entry: Entry{Name: "user.fred.#calendars", Type: TypeCalendar, UniqueID: "abc-2", Partition: "default", Server: "backend1", UIDValidity: 1600000001, Mtime: 1795327773,
			ACL: ACL{{"fred", "lrswipkxtecdan"}}},
	},
	{
		name:  "N domain quoted",
		key:   "Nexample.com\x1duser\x1fjane\x1fa.b",
		value: "%(T e I abc-3 P p2 V 1 M 1795327773 A %(jane@example.com lr))",
		entry: Entry{Name: "example.com!user.jane.a^b", UniqueID: "abc-3", Partition: "p2", UIDValidity: 1, Mtime: 1795327773, ACL: ACL{{"jane@example.com", "lr"}}},
	},
	{
		name:  "N empty acl",
		key:   "Nshared\x1fwe ird",
		value: "%(T er I abc-4 P default S be2 M 1795327773 A %())",
		entry: Entry{Name: "shared.we ird", Type: FlagRemote, UniqueID: "abc-4", Partition: "default", Server: "be2", Mtime: 1795327773, ACL: ACL{}},
	},
	{
		name:  "N intermediate no acl",
		key:   "Nuser\x1ffred\x1fa",
		value: "%(T ei I u-int P default V 8 C 1 F 1 M 1795319174)",
		entry: Entry{Name: "user.fred.a", Type: FlagIntermediate, UniqueID: "u-int", Partition: "default", UIDValidity: 8, CreatedModseq: 1, FolderModseq: 1, Mtime: 1795319174},
	},
	{
		name:  "N literal acl",
		key:   "Nother.net\x1dshared\x1fx",
		value: "%(T e I u9 P default M 5 A %(anyone lr group:staff lrs \"we ird\" lr {5+}\r\npct%x lr))",
		entry: Entry{Name: "other.net!shared.x", UniqueID: "u9", Partition: "default", Mtime: 5,
			ACL: ACL{{"anyone", "lr"}, {"group:staff", "lrs"}, {"we ird", "lr"}, {"pct%x", "lr"}}},
	},
}

var goldenI = []struct {
	key, value string
	entry      Entry
}{
	{
		key:   "Iabc-3",
		value: "%(T e N \"example.com\x1duser\x1fjane\x1fa.b\" P p2 V 1 M 1795327773 A %(jane@example.com lr) H (%(N \"example.com\x1duser\x1fjane\x1fold\" M 1500000000 V 7 F 3 T e P default)))",
		entry: Entry{Name: "example.com!user.jane.a^b", UniqueID: "abc-3", Partition: "p2", UIDValidity: 1, Mtime: 1795327773, ACL: ACL{{"jane@example.com", "lr"}},
			History: []HistoryItem{{Name: "example.com!user.jane.old", Mtime: 1500000000, UIDValidity: 7, FolderModseq: 3, Partition: "default"}}},
	},
	{
		key:   "Iabc-4",
		value: "%(T er N \"shared\x1fwe ird\" P default S be2 M 1795327773 A %() H ())",
		entry: Entry{Name: "shared.we ird", Type: FlagRemote, UniqueID: "abc-4", Partition: "default", Server: "be2", Mtime: 1795327773, ACL: ACL{}},
	},
}

func TestDecodeEncode36(t *testing.T) {
	for _, tc := range golden36 {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := DecodeRecord(V36, []byte(tc.key), []byte(tc.value), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Kind != KindEntry {
				t.Fatalf("kind %v", rec.Kind)
			}
			if d := cmp.Diff(tc.entry, rec.Entry); d != "" {
				t.Fatalf("decode (-want +got):\n%s", d)
			}
			kvs, err := EncodeRecords(V36, &tc.entry, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(kvs[0].Key) != tc.key || string(kvs[0].Value) != tc.value {
				t.Fatalf("encode = %q %q\nwant     %q %q", kvs[0].Key, kvs[0].Value, tc.key, tc.value)
			}
		})
	}
	for _, tc := range goldenI {
		rec, err := DecodeRecord(V36, []byte(tc.key), []byte(tc.value), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.entry, rec.Entry); d != "" {
			t.Fatalf("decode I (-want +got):\n%s", d)
		}
		got, err := ValueI(&tc.entry, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.value {
			t.Fatalf("ValueI = %q\nwant     %q", got, tc.value)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, key, value string
		pos              int
		sentinel         error
	}{
		{"unterminated", "Nx", "%(T e M 1", 9, ErrSyntax},
		{"bad type letter", "Nx", "%(T eq M 1)", 5, ErrUnknown},
		{"uidvalidity range", "Nx", "%(T e V 4294967296 M 1)", 8, ErrRange},
		{"not a number", "Nx", "%(T e V 12a M 1)", 10, ErrSyntax},
		{"unknown field", "Nx", "%(T e Q 1 M 1)", 6, ErrUnknown},
		{"twice", "Nx", "%(T e T e)", 6, ErrSyntax},
		{"literal past end", "Nx", "%(T e P {99+}\r\nab)", 8, ErrSyntax},
		{"trailing", "Nx", "%(T e) x", 6, ErrSyntax},
		{"no close", "Nx", "%(T e)x", 5, ErrUnknown},
		{"empty", "Nx", "", 0, ErrSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord(V36, []byte(tc.key), []byte(tc.value), nil)
			var ve *ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValueError", err)
			}
			if ve.Pos != tc.pos || !errors.Is(err, tc.sentinel) || ve.Key != tc.key {
				t.Fatalf("err = %v (pos %d), want pos %d, %v", err, ve.Pos, tc.pos, tc.sentinel)
			}
		})
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

func TestMUTF7(t *testing.T) {
	cases := []struct{ enc, dec string }{
		{"Entw&APw-rfe", "Entwürfe"},
		{"&ZeVnLIqe-", "日本語"},
		{"a&-b", "a&b"},
		{"&2D3eAA-", "😀"},
	}
	for _, tc := range cases {
		d, err := DecodeMUTF7(tc.enc)
		if err != nil || d != tc.dec {
			t.Errorf("DecodeMUTF7(%q) = %q, %v, want %q", tc.enc, d, err, tc.dec)
		}
		e, err := EncodeMUTF7(tc.dec)
		if err != nil || e != tc.enc {
			t.Errorf("EncodeMUTF7(%q) = %q, %v, want %q", tc.dec, e, err, tc.enc)
		}
	}
	for _, bad := range []string{"&AGE-", "&Jjo", "&Jj-", "caf\xc3\xa9", "&2D0-"} {
		if _, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("DecodeMUTF7(%q) accepted", bad)
		}
	}
}

func TestACLEffective(t *testing.T) {
	a := ACL{{"anyone", "lr"}, {"fred", "lrswi"}, {"-fred", "w"}, {"group:staff", "lrsk"}, {"-anyone", "r"}, {"anonymous", "l"}}
	cases := []struct {
		who  Identity
		want Rights
	}{
		{Identity{User: "fred"}, "lsi"},
		{Identity{User: "bob"}, "l"},
		{Identity{User: "bob", Groups: []string{"group:staff"}}, "lsk"},
		{Identity{Anonymous: true}, "l"},
	}
	for _, tc := range cases {
		if got := RightsFromMask(a.Effective(tc.who)); got != tc.want {
			t.Errorf("Effective(%+v) = %q, want %q", tc.who, got, tc.want)
		}
	}
	if !Rights("lrc").Has('k') || !Rights("lrc").Has('x') || Rights("lr").Has('w') || !Rights("d").Has('e') {
		t.Error("Has with legacy macros")
	}
	tab, err := ParseACLTab("fred\tlrswipkxtecda\tanyone\tlr\t")
	if err != nil || len(tab) != 2 || tab.TabString() != "fred\tlrswipkxtecda\tanyone\tlr\t" {
		t.Errorf("ParseACLTab = %v, %v", tab, err)
	}
	if _, err := ParseACLTab("fred\tlr\tdangling"); err == nil {
		t.Error("dangling identifier accepted")
	}
}
