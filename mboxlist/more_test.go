package mboxlist

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	for s, want := range map[string]Version{"2.4": V24, "2.3": V24, "2.5": V25, "3.0": V30, "3.2": V32, "3.4": V34, "3.5": V36, "3.6": V36,
		"3.8": V310, "3.10": V310, "3.11": V312, "3.12": V312} {
		got, err := ParseVersion(s)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v", s, got, err)
		}
	}
	for _, v := range Versions {
		if got, _ := ParseVersion(v.String()); got != v {
			t.Errorf("round trip %v", v)
		}
	}
	if _, err := ParseVersion("4.0"); !errors.Is(err, ErrUnknown) {
		t.Errorf("4.0: %v", err)
	}
}

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

func TestRACLVersions(t *testing.T) {
	e := Entry{Name: "user.fred.x", ACL: acl("fred", full, "a", "l", "b", "r", "c", "w", "admin", "lr", "-d", "l")}
	want := map[Version][]string{
		V30: {"$RACL$U$-d$user.fred.x", "$RACL$U$a$user.fred.x"},
		V32: {"$RACL$U$-d$user.fred.x", "$RACL$U$a$user.fred.x", "$RACL$U$b$user.fred.x", "$RACL$U$c$user.fred.x"},
		V34: {"$RACL$U$b$user.fred.x"},
		V36: {"AU\x1e-d\x1euser\x1ffred\x1fx", "AU\x1ea\x1euser\x1ffred\x1fx", "AU\x1eb\x1euser\x1ffred\x1fx"},
	}
	for v, w := range want {
		var got []string
		for _, k := range RACLKeys(v, &e, []string{"admin"}, nil) {
			got = append(got, string(k))
			rec, err := DecodeRecord(v, k, nil, nil)
			if err != nil || rec.Kind != KindRACL || rec.RACL.Name != e.Name || rec.RACL.Shared {
				t.Errorf("%s: decode %q = %+v, %v", v, k, rec, err)
			}
		}
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("%s:\n%s", v, d)
		}
	}
	if RACLKeys(V25, &e, nil, nil) != nil {
		t.Error("2.5 has no RACL")
	}
	tomb := e
	tomb.Type = FlagDeleted
	if RACLKeys(V36, &tomb, nil, nil) != nil {
		t.Error("tombstone RACL")
	}
}

func TestLegacyLines(t *testing.T) {
	e := Entry{Name: "user.fred", Type: FlagRemote, Server: "be1", Partition: "default", UniqueID: "u1", Mtime: 5, UIDValidity: 6, FolderModseq: 7, CreatedModseq: 8,
		LegacySpecialUse: "\\Sent", ACL: acl("fred", "lrs")}
	want := map[Version]string{
		V24: "user.fred\t1 be1!default fred\tlrs\t\n",
		V25: "user.fred\t1 default fred\tlrs\t\n",
		V30: "user.fred\t1 be1!default fred\tlrs\t\n",
		V34: "user.fred\t1 be1!default fred\tlrs\t\n",
		V36: "user.fred\t16 be1!default fred\tlrs\t>u1 5 6 7 8 \\Sent\n",
	}
	for v, w := range want {
		got, err := AppendLegacyLine(nil, v, &e)
		if err != nil || string(got) != w {
			t.Errorf("%s: %q, %v\nwant %q", v, got, err, w)
		}
	}
	// pre-2.2 line without a type; CRLF
	got, err := ParseLegacyLine(V24, []byte("user.old\tdefault fred\tlrs\t\r"))
	if err != nil || got.Partition != "default" || got.Type != 0 || len(got.ACL) != 1 {
		t.Errorf("pre-2.2 line: %+v %v", got, err)
	}
	d := NewLegacyDecoder(strings.NewReader("user.a\t0 p a\tl\t\n\nuser.b\t4096 p \n"), V34)
	if !d.Next() || d.Entry().Name != "user.a" {
		t.Fatal("first line")
	}
	if d.Next() {
		t.Fatal("bad line accepted")
	}
	var de *DumpError
	if !errors.As(d.Err(), &de) || de.Line != 3 || de.Offset != 24 || !errors.Is(d.Err(), ErrUnknown) {
		t.Fatalf("err = %v", d.Err())
	}
	for _, bad := range []Entry{
		{Name: "x", Partition: "a b"}, {Name: "x", Partition: "a!b"}, {Name: "x\ty", Partition: "p"},
		{Name: "x", Partition: "p", ACL: acl("a\tb", "l")},
	} {
		if _, err := AppendLegacyLine(nil, V34, &bad); !errors.Is(err, ErrUnrepresentable) {
			t.Errorf("AppendLegacyLine(%+v) = %v", bad, err)
		}
	}
	// No partition: 2.4 and 3.6 -u -L lines cannot say it; 2.5–3.4 print
	// glibc's "(null)", as real 3.2.6 does for a tombstone, and read it back.
	for _, v := range []Version{V24, V36} {
		if _, err := AppendLegacyLine(nil, v, &Entry{Name: "x"}); !errors.Is(err, ErrUnrepresentable) {
			t.Errorf("AppendLegacyLine(%v, no partition) = %v", v, err)
		}
	}
	tomb := Entry{Name: "user.bob", Type: TypeEmail | FlagDeleted, ACL: ACL{}}
	for _, v := range []Version{V25, V30, V32, V34} {
		b, err := AppendLegacyLine(nil, v, &tomb)
		if err != nil || string(b) != "user.bob\t16 (null) \n" {
			t.Errorf("AppendLegacyLine(%v, tombstone) = %q, %v", v, b, err)
			continue
		}
		back, err := ParseLegacyLine(v, b[:len(b)-1])
		if err != nil || back.Partition != "" || back.Type != tomb.Type || back.Name != tomb.Name {
			t.Errorf("ParseLegacyLine(%v, %q) = %+v, %v", v, b, back, err)
		}
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	cases := []struct {
		name, in string
		line     int
		off      int64
	}{
		{"bad utf8", "{\n\"user.a\": {\"mbtype\": \"e\"},\n\"user.\xff\": {}}", 3, 35},
		{"number", "{\n\"a\": {\"uidvalidity\": 5}\n}", 2, 0},
		{"range", "{\n\"a\": {\"uidvalidity\": \"4294967296\"}\n}", 2, 0},
		{"mbtype", "{\n\"a\": {\"mbtype\": \"eq\"}\n}", 2, 0},
		{"truncated", "{\n\"a\": {}", 0, 0},
		{"trailing", "{}\n}", 0, 0},
		{"not object", "[]", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewJSONDecoder(strings.NewReader(tc.in))
			for d.Next() {
			}
			var de *DumpError
			if !errors.As(d.Err(), &de) {
				t.Fatalf("err = %v", d.Err())
			}
			if tc.line != 0 && de.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", de.Line, tc.line, de)
			}
			if tc.off != 0 && de.Offset != tc.off {
				t.Errorf("offset %d, want %d (%v)", de.Offset, tc.off, de)
			}
		})
	}
	// a name split across reads still decodes
	in := jsonDumpF([]Entry{{Name: "user.fred.Entwürfe", Partition: "p", ACL: acl("jürgen", "lr")}})
	d := NewJSONDecoder(&oneByteReader{r: bytes.NewReader(in)})
	if !d.Next() || d.Entry().Name != "user.fred.Entwürfe" || d.Next() || d.Err() != nil {
		t.Fatalf("one-byte reads: %v", d.Err())
	}
}

type oneByteReader struct{ r *bytes.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestDetector(t *testing.T) {
	cases := []struct {
		name string
		kvs  []KV
		want Version
	}{
		{"empty", nil, V36},
		{"2.4", []KV{{[]byte("user.a"), []byte("0 p a\tl\t")}}, V24},
		{"2.5", []KV{{[]byte("user.a"), []byte("%(P p M 1)")}}, V25},
		{"3.0 F", []KV{{[]byte("user.a"), []byte("%(P p F 3 M 1)")}}, V30},
		{"3.2 C", []KV{{[]byte("user.a"), []byte("%(P p C 3 M 1)")}}, V32},
		{"3.2 i", []KV{{[]byte("user.a"), []byte("%(P p T i M 1)")}}, V32},
		{"3.4 racl", []KV{{[]byte("$RACL"), []byte("2")}, {[]byte("user.a"), []byte("%(P p M 1)")}}, V34},
		{"3.4 runq", []KV{{[]byte("$RUNQ"), []byte("1")}}, V34},
		{"3.6 marker", []KV{{[]byte("AS\x1e"), nil}}, V36},
		{"3.6 N", []KV{{[]byte("Nuser\x1fa"), []byte("%(T e P p M 1)")}}, V36},
		{"legacy N name", []KV{{[]byte("Nshared"), []byte("%(P p M 1)")}}, V25},
		{"I without N", []KV{{[]byte("Ishared"), []byte("%(P p M 1)")}}, V25},
	}
	for _, tc := range cases {
		var d Detector
		for _, kv := range tc.kvs {
			d.Add(kv.Key, kv.Value)
		}
		if got := d.Version(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestConvertLosses(t *testing.T) {
	e := Entry{Name: "user.fred.#calendars", Type: TypeCalendar, UniqueID: "u", UIDValidity: 3, CreatedModseq: 4, FolderModseq: 5, Mtime: 6,
		LegacySpecialUse: "\\Sent", History: []HistoryItem{{Name: "user.fred.old"}}, Partition: "p"}
	fields := func(ls []Loss) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Field)
		}
		return out
	}
	want := map[Version][]string{
		V24: {"mbtype", "uniqueid", "uidvalidity", "mtime", "createdmodseq", "foldermodseq", "legacy_dirs", "history", "legacy_specialuse"},
		V25: {"createdmodseq", "foldermodseq", "legacy_dirs", "history", "legacy_specialuse"},
		V30: {"createdmodseq", "legacy_dirs", "history", "legacy_specialuse"},
		V34: {"legacy_dirs", "history", "legacy_specialuse"},
		V36: {"legacy_specialuse"},
	}
	for v, w := range want {
		if d := cmp.Diff(w, fields(Losses(v, &e))); d != "" {
			t.Errorf("%s:\n%s", v, d)
		}
	}
	up, ls := Convert(V30, V36, &Entry{Name: "user.a", Type: FlagRemote, Server: "b", Partition: "p"})
	if up.Type != FlagRemote|FlagLegacyDirs || len(ls) != 0 {
		t.Errorf("upgrade: %v %v", up.Type, ls)
	}
}

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

func TestListableBy(t *testing.T) {
	cases := []struct {
		e    Entry
		who  Identity
		want bool
	}{
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", "")}, Identity{User: "fred"}, true},
		// a negative l hides an own mailbox too (Cyrus 3.6.1)
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", full, "-anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", full, "-fred", "l")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", full, "-bob", "l")}, Identity{User: "fred"}, true},
		{Entry{Name: "user.fred.Sent", ACL: acl("fred", full, "-anyone", "r")}, Identity{User: "fred"}, true},
		{Entry{Name: "user.fred.Sent", ACL: acl("anyone", "lr")}, Identity{User: "bob"}, true},
		{Entry{Name: "user.fred.Sent", ACL: acl("anyone", "lr", "-bob", "l")}, Identity{User: "bob"}, false},
		{Entry{Name: "user.fred.Sent", ACL: acl("group:staff", "l")}, Identity{User: "bob", Groups: []string{"group:staff"}}, true},
		{Entry{Name: "user.fred.#calendars", Type: TypeCalendar, ACL: acl("anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.Gone", Type: FlagDeleted, ACL: acl("anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "user.fred.New", Type: FlagReserve, ACL: acl("anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "DELETED.user.fred.Old.5F000000", ACL: acl("anyone", "lr")}, Identity{User: "fred"}, false},
		{Entry{Name: "example.com!user.jane", ACL: acl("anyone", "lr")}, Identity{User: "bob"}, false},
		{Entry{Name: "example.com!user.jane", ACL: acl("jane@example.com", full)}, Identity{User: "jane@example.com"}, true},
		{Entry{Name: "example.com!shared.x", ACL: acl("anyone", "lr")}, Identity{User: "bob@example.com"}, true},
		{Entry{Name: "user.rem", Type: FlagRemote, Server: "be", ACL: acl("anyone", "l")}, Identity{User: "x"}, true},
	}
	for _, tc := range cases {
		if got := tc.e.ListableBy(tc.who, nil); got != tc.want {
			t.Errorf("%q ListableBy(%+v) = %v, want %v", tc.e.Name, tc.who, got, tc.want)
		}
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

func TestLegacyDecoderLongLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := "user.a\t0 p " + long + "\tlr\t\nuser.b\t0 p b\tl\t\n"
	d := NewLegacyDecoder(strings.NewReader(in), V34)
	if !d.Next() || len(d.Entry().ACL) != 1 || d.Entry().ACL[0].ID != long {
		t.Fatalf("long line: %v", d.Err())
	}
	if !d.Next() || d.Entry().Name != "user.b" || d.Next() || d.Err() != nil {
		t.Fatalf("after the long line: %v", d.Err())
	}
	d = NewLegacyDecoder(strings.NewReader("user.a\t0 p "+strings.Repeat("y", 2<<20)+"\n"), V34)
	var de *DumpError
	if d.Next() || !errors.As(d.Err(), &de) || de.Line != 1 {
		t.Fatalf("over-long line: %v", d.Err())
	}
}

// Decoding and encoding share no mutable state (mboxconv decodes batches in
// parallel); run with -race.
func TestConcurrentUse(t *testing.T) {
	kvs := benchEntries(200)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			var buf []byte
			for _, kv := range kvs {
				rec, err := DecodeRecord(V36, kv.Key, kv.Value, nil)
				if err != nil {
					done <- err
					return
				}
				buf = AppendJSONEntry(buf[:0], &rec.Entry)
				if _, err := EncodeRecords(V36, &rec.Entry, &EncodeOptions{ReverseACLs: true}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
