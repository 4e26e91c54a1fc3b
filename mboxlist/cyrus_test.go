package mboxlist

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/murderkit/murderkit/internal/cyrustest"
)

// decodeAll decodes every record, checks that our encoder gives Cyrus's
// exact bytes back for each N and I record, and returns the entries (with
// History joined from the I records) in key order.
func decodeAll(t *testing.T, kvs []KV, c *NameConfig) []Entry {
	t.Helper()
	byID := map[string][]byte{}
	for _, kv := range kvs {
		rec, err := DecodeRecord(V36, kv.Key, kv.Value, c)
		if err != nil {
			t.Fatalf("decode %q = %q: %v", kv.Key, kv.Value, err)
		}
		switch rec.Kind {
		case KindEntry:
			got, err := EncodeRecords(V36, &rec.Entry, &EncodeOptions{Names: c})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[0].Key, kv.Key) || !bytes.Equal(got[0].Value, kv.Value) {
				t.Errorf("re-encoded N record:\n got %q %q\nwant %q %q", got[0].Key, got[0].Value, kv.Key, kv.Value)
			}
		case KindByID:
			byID[string(kv.Key[1:])] = kv.Value
			got, err := ValueI(&rec.Entry, c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, kv.Value) {
				t.Errorf("re-encoded I record %q:\n got %q\nwant %q", kv.Key, got, kv.Value)
			}
		}
	}
	out, err := entriesOf(kvs, V36, c, byID)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func byName(es []Entry) map[string]Entry {
	m := map[string]Entry{}
	for _, e := range es {
		m[e.Name] = e
	}
	return m
}

// TestCyrusJSONUndump: our JSON dump of the corpus is loaded by real
// `ctl_mboxlist -u`; the N and I records Cyrus writes decode to the corpus
// entries, our encoder reproduces their exact bytes, and our JSON of the
// decoded entries is byte for byte what `ctl_mboxlist -d` prints (and with
// -y).
func TestCyrusJSONUndump(t *testing.T) {
	configs := []struct {
		name  string
		extra []string
		names *NameConfig
	}{
		{"virtdomains", []string{"virtdomains: yes"}, nil},
		{"plain netnews-sep", []string{"virtdomains: no", "unixhierarchysep: no"}, nil},
		{"defaultdomain deletedprefix", []string{"virtdomains: yes", "defaultdomain: example.com", "deletedprefix: TRASH"},
			&NameConfig{DefaultDomain: "example.com", DeletedPrefix: "TRASH"}},
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			testJSONUndump(t, append(cfg.extra, "partition-p2: /tmp/p2"), cfg.names)
		})
	}
}

func testJSONUndump(t *testing.T, extra []string, nc *NameConfig) {
	c := cyrustest.NewConfig(t, extra...)
	in := corpus()
	undump(t, c, jsonDump(t, in))
	kvs := readRecords(t, c, c.MailboxesDB())
	if testing.Verbose() {
		for _, kv := range kvs {
			t.Logf("%q\t%q", kv.Key, kv.Value)
		}
	}
	got := decodeAll(t, kvs, nc)
	m := byName(got)
	if len(m) != len(in) {
		t.Errorf("Cyrus stored %d entries, want %d", len(m), len(in))
	}
	for _, want := range in {
		// What the configuration makes of the name (default domain dropped).
		want.Name = IntNameFromDB(DBName(want.Name, nc), nc)
		for i := range want.History {
			want.History[i].Name = IntNameFromDB(DBName(want.History[i].Name, nc), nc)
		}
		g, ok := m[want.Name]
		if !ok {
			t.Errorf("entry %q missing", want.Name)
			continue
		}
		want.Mtime = g.Mtime // Cyrus stores the time of the write
		if d := cmp.Diff(want, g); d != "" {
			t.Errorf("entry %q (-corpus +cyrus):\n%s", want.Name, d)
		}
	}
	// Which records: N for every entry, I for every entry (all have uniqueids).
	nN, nI := 0, 0
	for _, kv := range kvs {
		switch kv.Key[0] {
		case 'N':
			nN++
		case 'I':
			nI++
		default:
			t.Errorf("unexpected key %q", kv.Key)
		}
	}
	if nN != len(in) || nI != len(in) {
		t.Errorf("N=%d I=%d records, want %d each", nN, nI, len(in))
	}
	var det Detector
	for _, kv := range kvs {
		det.Add(kv.Key, kv.Value)
	}
	if det.Version() != V36 || !det.Decided() {
		t.Errorf("Detector on a Cyrus 3.6 file: %s", det.Version())
	}

	for _, y := range []bool{false, true} {
		var args []string
		if y {
			args = []string{"-y"}
		}
		want := dump(t, c, args...)
		var sel []Entry
		for _, e := range got {
			e.History = nil // -d reads N records, which have no H
			if DumpFilter(&e, y) {
				sel = append(sel, e)
			}
		}
		if ours := jsonDump(t, sel); !bytes.Equal(ours, want) {
			t.Errorf("-y=%v: our JSON differs from ctl_mboxlist -d:\n%s", y, firstDiff(ours, want))
		}
		// and our parser reads Cyrus's dump back to the same entries
		jd := NewJSONDecoder(bytes.NewReader(want))
		var back []Entry
		for jd.Next() {
			back = append(back, *jd.Entry())
		}
		if err := jd.Err(); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(sel, back); d != "" {
			t.Errorf("parsed dump (-want +got):\n%s", d)
		}
	}
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return "ours:   " + strings.ReplaceAll(string(a[lo:min(len(a), i+120)]), "\n", "⏎") +
		"\ncyrus:  " + strings.ReplaceAll(string(b[lo:min(len(b), i+120)]), "\n", "⏎")
}

// TestCyrusReverseACLs: with `reverseacls: yes`, `ctl_cyrusdb -r` builds the
// reverse-ACL records of the undumped corpus; RACLKeys and RACLMarker give
// exactly Cyrus's set of A keys (admins excluded, owner excluded, DELETED.*
// names, negative identifiers, empty rights shifting the pairs).
func TestCyrusReverseACLs(t *testing.T) {
	for _, vd := range []bool{false, true} {
		extra := []string{"reverseacls: yes"}
		if vd {
			extra = append(extra, "virtdomains: yes")
		}
		c := cyrustest.NewConfig(t, extra...)
		var in []Entry
		for _, e := range corpus() {
			if e.Type.Has(FlagReserve) || (!vd && strings.Contains(e.Name, "!")) {
				continue // ctl_cyrusdb -r deletes reserved entries
			}
			in = append(in, e)
		}
		undump(t, c, jsonDump(t, in))
		c.MustRun(t, "ctl_cyrusdb", "-r")
		kvs := readRecords(t, c, c.MailboxesDB())
		var cyrusKeys, ourKeys []string
		var entries []Entry
		for _, kv := range kvs {
			rec, err := DecodeRecord(V36, kv.Key, kv.Value, nil)
			if err != nil {
				t.Fatal(err)
			}
			switch rec.Kind {
			case KindRACL, KindRACLMarker:
				cyrusKeys = append(cyrusKeys, string(kv.Key))
				if len(kv.Value) != 0 {
					t.Errorf("RACL value %q", kv.Value)
				}
			case KindEntry:
				entries = append(entries, rec.Entry)
			}
		}
		ourKeys = append(ourKeys, string(RACLMarker(V36).Key))
		for i := range entries {
			for _, k := range RACLKeys(V36, &entries[i], []string{"cyrus", "admin"}, nil) {
				ourKeys = append(ourKeys, string(k))
			}
		}
		sortStrings(ourKeys)
		if d := cmp.Diff(cyrusKeys, ourKeys); d != "" {
			t.Errorf("virtdomains=%v: RACL keys (-cyrus +ours):\n%s", vd, d)
		}
		if len(cyrusKeys) < 10 {
			t.Errorf("only %d RACL keys: the test checks too little", len(cyrusKeys))
		}
		// Writing the same set with EncodeRecords gives the same A records.
		var all []KV
		for i := range entries {
			kv, err := EncodeRecords(V36, &entries[i], &EncodeOptions{ReverseACLs: true, Admins: []string{"cyrus", "admin"}})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, kv...)
		}
		all = append(all, *RACLMarker(V36))
		sortKVs(all)
		// ctl_cyrusdb -r rewrote M; compare keys and the A values only.
		if len(all) != len(kvs) {
			t.Errorf("EncodeRecords gives %d records, Cyrus has %d", len(all), len(kvs))
		}
		for i := 0; i < len(all) && i < len(kvs); i++ {
			if !bytes.Equal(all[i].Key, kvs[i].Key) {
				t.Errorf("record %d: key %q, Cyrus %q", i, all[i].Key, kvs[i].Key)
				break
			}
		}
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestCyrusLegacyUndump: the 3.6 legacy lines we write are loaded by real
// `ctl_mboxlist -u -L` into the same entries — including murder frontend
// entries without a uniqueid (which the JSON undump skips), remote types
// (numeric 3.6 type 16 = REMOTE) and specialuse — and our parser reads the
// lines back.
func TestCyrusLegacyUndump(t *testing.T) {
	c := cyrustest.NewConfig(t, "virtdomains: yes")
	in := []Entry{
		{Name: "user.bob", UniqueID: "uid-bob", Mtime: 1500000000, Partition: "default", UIDValidity: 1500000001, FolderModseq: 7, CreatedModseq: 3,
			LegacySpecialUse: "\\Sent", ACL: acl("bob", "lrswipkxtecda")},
		{Name: "user.front", Type: FlagRemote, Partition: "default", Server: "backend1", ACL: acl("front", full, "anyone", "lr")},
		{Name: "user.front.Res", Type: FlagRemote | FlagReserve, Partition: "p2", Server: "backend2", ACL: acl("front", full)},
		{Name: "example.com!user.x.y^z", Type: FlagRemote, Partition: "default", Server: "be3", ACL: acl("x@example.com", full)},
		{Name: "user.front.#calendars", Type: TypeCalendar | FlagRemote, Partition: "default", Server: "backend1", ACL: acl("front", full)},
		{Name: "user.noacl", Type: FlagRemote, Partition: "default", Server: "backend1"},
		{Name: "user.noacl2", UniqueID: "u-noacl2", Partition: "default", UIDValidity: 3, Mtime: 9},
		{Name: "shared.tab", UniqueID: "u-tab", Partition: "default", UIDValidity: 9, ACL: acl("anyone", "lr", "group:x", "")},
	}
	var lines []byte
	for i := range in {
		var err error
		lines, err = AppendLegacyLine(lines, V36, &in[i])
		if err != nil {
			t.Fatal(err)
		}
	}
	undump(t, c, lines, "-L")
	kvs := readRecords(t, c, c.MailboxesDB())
	got := byName(decodeAll(t, kvs, nil))
	for _, want := range in {
		g, ok := got[want.Name]
		if !ok {
			t.Errorf("entry %q missing after -u -L", want.Name)
			continue
		}
		want.Mtime = g.Mtime
		want.LegacySpecialUse = "" // not kept in N records
		if d := cmp.Diff(want, g); d != "" {
			t.Errorf("entry %q (-want +cyrus):\n%s", want.Name, d)
		}
	}
	// our parser reads the lines back to the input
	ld := NewLegacyDecoder(bytes.NewReader(lines), V36)
	i := 0
	for ld.Next() {
		want := in[i]
		if d := cmp.Diff(want, *ld.Entry()); d != "" {
			t.Errorf("line %d (-want +got):\n%s", i+1, d)
		}
		i++
	}
	if ld.Err() != nil || i != len(in) {
		t.Fatalf("read %d lines: %v", i, ld.Err())
	}
}

// TestCyrusReadsOurValues: records only our encoder made (tombstones
// without partition or ACL, intermediates without ACL, frontend entries
// without uniqueid and so without I record, history in I records) are
// stored with Cyrus's engine, and `ctl_mboxlist -d` / `-d -y` print exactly
// our JSON of them.
func TestCyrusReadsOurValues(t *testing.T) {
	c := cyrustest.NewConfig(t, "virtdomains: yes")
	in := []Entry{
		{Name: "user.fred", UniqueID: "u-fred", Partition: "default", UIDValidity: 5, Mtime: 1700000000, ACL: acl("fred", full),
			History: []HistoryItem{{Name: "user.freddy", Mtime: 1600000000, UIDValidity: 5, Type: TypeEmail, Partition: "default"}}},
		{Name: "user.fred.Gone", Type: FlagDeleted, UniqueID: "u-gone", UIDValidity: 9, CreatedModseq: 2, FolderModseq: 3, Mtime: 1700000001},
		{Name: "user.fred.a", Type: FlagIntermediate, UniqueID: "u-int", Mtime: 1700000002},
		{Name: "user.front", Type: FlagRemote, Partition: "default", Server: "backend1", Mtime: 1700000003, ACL: acl("front", full, "anyone", "lr")},
		{Name: "user.front.Res", Type: FlagRemote | FlagReserve, Partition: "default", Server: "backend1", Mtime: 1700000004, ACL: ACL{}},
		{Name: "example.com!user.x y.#calendars", Type: TypeCalendar | FlagRemote, Partition: "p%x", Server: "be{2}", Mtime: 1700000005,
			ACL: acl("x y@example.com", full, "quo\"te", "lr")},
		{Name: "shared.bin\xff", UniqueID: "u-bin", Partition: "default", Mtime: 1700000007, ACL: acl("anyone", "lr")},
		{Name: "shared.binacl", UniqueID: "u-binacl", Partition: "p\xfe", Mtime: 1700000008, ACL: acl("anyone", "lr", "bad\xc3", "lr", "ok", "l\xff")},
		{Name: "shared.tabs", UniqueID: "u-tabs", Partition: "default", Mtime: 1700000006, ACL: acl("ta\tb", "lr", "c", "l\tx", "dangling\t", "")},
	}
	var kvs []KV
	for i := range in {
		kv, err := EncodeRecords(V36, &in[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		kvs = append(kvs, kv...)
	}
	sortKVs(kvs)
	writeRecords(t, c, c.MailboxesDB(), kvs)
	for _, y := range []bool{false, true} {
		var args []string
		if y {
			args = append(args, "-y")
		}
		want := dump(t, c, args...)
		var sel []Entry
		for _, kv := range kvs {
			if kv.Key[0] != 'N' {
				continue
			}
			for _, e := range in {
				if "N"+DBName(e.Name, nil) == string(kv.Key) && DumpFilter(&e, y) {
					e.History = nil
					sel = append(sel, e)
				}
			}
		}
		if ours := jsonDump(t, sel); !bytes.Equal(ours, want) {
			t.Errorf("-y=%v: ctl_mboxlist -d of our records differs:\n%s", y, firstDiff(ours, want))
		}
	}
	// and our decoder reads the stored records back, history included
	back := decodeAll(t, readRecords(t, c, c.MailboxesDB()), nil)
	sortEntries(in)
	if d := cmp.Diff(in, back); d != "" {
		t.Errorf("read back (-written +read):\n%s", d)
	}
}

// TestCyrusRemovesOurRACLs: a 3.6 file written with our reverse-ACL records
// and marker is recognised by Cyrus as having them: with `reverseacls: no`,
// `ctl_cyrusdb -r` removes the marker and the records under the marker's
// prefix `AS\x1E` — and, a Cyrus 3.6.1 bug pinned here, leaves every
// `AU\x1E` (user-owned) record behind, stale. N and I records stay.
func TestCyrusRemovesOurRACLs(t *testing.T) {
	c := cyrustest.NewConfig(t, "virtdomains: yes", "reverseacls: no")
	var kvs []KV
	for _, e := range corpus() {
		if e.Type.Has(FlagReserve) {
			continue // ctl_cyrusdb -r deletes reserved entries
		}
		kv, err := EncodeRecords(V36, &e, &EncodeOptions{ReverseACLs: true, Admins: []string{"cyrus", "admin"}})
		if err != nil {
			t.Fatal(err)
		}
		kvs = append(kvs, kv...)
	}
	kvs = append(kvs, *RACLMarker(V36))
	sortKVs(kvs)
	writeRecords(t, c, c.MailboxesDB(), kvs)
	nAS, nAU := 0, 0
	var rest []string
	for _, kv := range kvs {
		switch {
		case bytes.HasPrefix(kv.Key, []byte("AS\x1e")):
			nAS++
		case bytes.HasPrefix(kv.Key, []byte("AU\x1e")):
			nAU++
			rest = append(rest, string(kv.Key))
		default:
			rest = append(rest, string(kv.Key))
		}
	}
	if nAS < 3 || nAU < 5 {
		t.Fatalf("only %d AS and %d AU records written", nAS, nAU)
	}
	c.MustRun(t, "ctl_cyrusdb", "-r")
	var after []string
	for _, kv := range readRecords(t, c, c.MailboxesDB()) {
		after = append(after, string(kv.Key))
	}
	if d := cmp.Diff(rest, after); d != "" {
		t.Errorf("keys after ctl_cyrusdb -r with reverseacls off (-want +got):\n%s", d)
	}
}

// TestCyrusNameNormalisation: odd internal names go through real
// `ctl_mboxlist -u`; the N keys Cyrus writes are DBName of them, and the
// names `ctl_mboxlist -d` prints are IntNameFromDB of those keys.
func TestCyrusNameNormalisation(t *testing.T) {
	c := cyrustest.NewConfig(t, "virtdomains: yes")
	names := []string{
		"DELETED.user.fred.x.05f000000", "DELETED.user.fred.y.-1", "DELETED.user.fred.z.0x1A", "DELETED.user.fred.w.zz",
		"DELETED.user.fred.v.0", "shared..double", "user.ann.trail.", "DELETED.two.5F000000", "user", "x.com!DELETED.user.a.b.1F",
		"DELETED.user.fred.big.123456789ABCDEF01",
	}
	var in []Entry
	for i, n := range names {
		in = append(in, Entry{Name: n, UniqueID: fmt.Sprintf("u-odd%d", i), Partition: "default", ACL: acl("anyone", "lr")})
	}
	undump(t, c, jsonDump(t, in))
	got := map[string]bool{}
	for _, kv := range readRecords(t, c, c.MailboxesDB()) {
		if kv.Key[0] == 'N' {
			got[string(kv.Key[1:])] = true
		}
	}
	for _, n := range names {
		if db := DBName(n, nil); !got[db] {
			t.Errorf("DBName(%q) = %q, not among Cyrus's keys %v", n, db, got)
		}
	}
	d := dump(t, c)
	jd := NewJSONDecoder(bytes.NewReader(d))
	for jd.Next() {
		e := jd.Entry()
		if !got[DBName(e.Name, nil)] {
			t.Errorf("dumped name %q does not map back to a key", e.Name)
		}
	}
	if jd.Err() != nil {
		t.Fatal(jd.Err())
	}
}

// TestCyrusUndumpSkips: the entries UndumpSkips names are exactly those real
// `ctl_mboxlist -u` leaves out.
func TestCyrusUndumpSkips(t *testing.T) {
	c := cyrustest.NewConfig(t)
	in := []Entry{
		{Name: "user.a", UniqueID: "u-a", Partition: "default", ACL: acl("a", full)},
		{Name: "user.front", Type: FlagRemote, Server: "be1", Partition: "default", ACL: acl("front", full)},
		{Name: "user.nopart", UniqueID: "u-np", ACL: acl("nopart", full)},
		{Name: "user.int", Type: FlagIntermediate, UniqueID: "u-int"},
		{Name: "user.b", UniqueID: "u-b", Partition: "p"},
	}
	undump(t, c, jsonDump(t, in))
	stored := map[string]bool{}
	for _, kv := range readRecords(t, c, c.MailboxesDB()) {
		if kv.Key[0] == 'N' {
			stored[IntNameFromDB(string(kv.Key[1:]), nil)] = true
		}
	}
	for _, e := range in {
		if skip := UndumpSkips(&e) != ""; skip == stored[e.Name] {
			t.Errorf("%s: UndumpSkips = %q, stored by Cyrus = %v", e.Name, UndumpSkips(&e), stored[e.Name])
		}
	}
}
