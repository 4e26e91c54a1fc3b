package mboxlist

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Values printed by real Cyrus 3.6.1 (cyr_dbtool show after ctl_mboxlist -u;
// docs/cyrus-db.md §4.3 and the session notes in docs/entry-model.md).
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

func TestDecode2x(t *testing.T) {
	cases := []struct {
		name, value string
		want        Entry
		pos         int // -1: no error
	}{
		{"local", "0 default fred\tlrswipkxtecda\t", Entry{Partition: "default", ACL: acl("fred", "lrswipkxtecda")}, -1},
		{"remote", "1 backend1!default fred\tlrswipkxtecda\t", Entry{Type: FlagRemote, Server: "backend1", Partition: "default", ACL: acl("fred", "lrswipkxtecda")}, -1},
		{"reserved", "3 be!p ", Entry{Type: FlagRemote | FlagReserve, Server: "be", Partition: "p", ACL: ACL{}}, -1},
		{"no acl", "0 default", Entry{Partition: "default", ACL: ACL{}}, -1},
		{"prefix", "(uniqueid 1234 specialuse \\Sent) 0 p a\tl\t", Entry{UniqueID: "1234", LegacySpecialUse: "\\Sent", Partition: "p", ACL: acl("a", "l")}, -1},
		{"prefix other keys", "(foo bar uniqueid x) 0 p ", Entry{UniqueID: "x", Partition: "p", ACL: ACL{}}, -1},
		{"no type", "default fred\tlrs\t", Entry{}, 0},
		{"bad bits", "4096 p ", Entry{}, 0},
		{"huge", "99999999999 p ", Entry{}, 0},
		{"no space", "0", Entry{}, 1},
		{"dangling acl", "0 p fred\tlrs\tbob", Entry{}, 4},
		{"prefix unterminated", "(uniqueid x", Entry{}, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, f, err := DecodeValue(V24, "user.x", []byte(tc.value), nil)
			if tc.pos >= 0 {
				var ve *ValueError
				if !errors.As(err, &ve) || ve.Pos != tc.pos {
					t.Fatalf("err = %v, want position %d", err, tc.pos)
				}
				return
			}
			if err != nil || f != Format2x {
				t.Fatal(err, f)
			}
			tc.want.Name = "user.x"
			if d := cmp.Diff(tc.want, e); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestLegacyDlist(t *testing.T) {
	e := Entry{Name: "user.fred", Type: FlagRemote | FlagReserve, UniqueID: "u1", Partition: "default", Server: "be1", UIDValidity: 7, CreatedModseq: 3, FolderModseq: 4, Mtime: 99,
		ACL: acl("fred", "lrs", "we ird", "l")}
	want := map[Version]string{
		V25: "%(A %(fred lrs \"we ird\" l) I u1 P default S be1 T rz V 7 M 99)",
		V30: "%(A %(fred lrs \"we ird\" l) I u1 P default S be1 T rz V 7 F 4 M 99)",
		V32: "%(A %(fred lrs \"we ird\" l) I u1 P default S be1 T rz V 7 C 3 F 4 M 99)",
		V34: "%(A %(fred lrs \"we ird\" l) I u1 P default S be1 T rz V 7 C 3 F 4 M 99)",
	}
	for v, w := range want {
		got, err := ValueDlist(v, &e)
		if err != nil || string(got) != w {
			t.Errorf("ValueDlist(%s) = %q, %v\nwant %q", v, got, err, w)
		}
		back, f, err := DecodeValue(v, "user.fred", got, nil)
		if err != nil || f != FormatDlist {
			t.Fatal(err)
		}
		ce, _ := Convert(V36, v, &e)
		if d := cmp.Diff(ce, back); d != "" {
			t.Errorf("%s round trip:\n%s", v, d)
		}
	}
	v2x, _ := Value2x(&e)
	if string(v2x) != "3 be1!default fred\tlrs\twe ird\tl\t" {
		t.Errorf("Value2x = %q", v2x)
	}
	// A 3.6 T string is not a legacy one.
	if _, _, err := DecodeValue(V34, "x", []byte("%(T e M 1)"), nil); !errors.Is(err, ErrUnknown) {
		t.Errorf("3.6 T in legacy value: %v", err)
	}
}
