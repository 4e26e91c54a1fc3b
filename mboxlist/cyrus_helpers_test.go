package mboxlist

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/cyrustest"
)

// entriesOf decodes records of version v, in key order, into entries as the
// dump path does: marker, reverse-ACL and (for 3.6) I records are not
// entries; a 3.6 entry takes the name history of the I record that byID holds
// for its uniqueid, but only when that record names it (a tombstone left by a
// rename shares the uniqueid).
func entriesOf(kvs []KV, v Version, c *NameConfig, byID map[string][]byte) ([]Entry, error) {
	var out []Entry
	for _, kv := range kvs {
		if v.ByID() && (len(kv.Key) == 0 || kv.Key[0] != KeyName) {
			continue
		}
		rec, err := DecodeRecord(v, kv.Key, kv.Value, c)
		if err != nil {
			return out, err
		}
		if rec.Kind != KindEntry {
			continue
		}
		e := rec.Entry
		if val, ok := byID[e.UniqueID]; ok && v.ByID() && e.UniqueID != "" {
			ie, err := DecodeIValue(e.UniqueID, val, c)
			if err != nil {
				return out, err
			}
			if ie.Name == e.Name {
				e.History = ie.History
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func sortKVs(kvs []KV) {
	sort.SliceStable(kvs, func(i, j int) bool { return bytes.Compare(kvs[i].Key, kvs[j].Key) < 0 })
}

// readRecords reads every record of a twoskip file with the real Cyrus
// engine: cvt_cyrusdb to the flat backend (unambiguous: NUL TAB CR LF and
// 0xFF are escaped), and checks that `cyr_dbtool show` prints exactly
// `key TAB value LF` for those records.
func readRecords(t *testing.T, c *cyrustest.Config, db string) []KV {
	t.Helper()
	flat := filepath.Join(c.Dir, fmt.Sprintf("read-%d.flat", len(t.Name())+int(os.Getpid())))
	os.Remove(flat)
	c.MustRun(t, "cvt_cyrusdb", db, "twoskip", flat, "flat")
	raw, err := os.ReadFile(flat)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(flat)
	var kvs []KV
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		tab := bytes.IndexByte(line, '\t')
		if tab < 0 {
			t.Fatalf("flat line without TAB: %q", line)
		}
		kvs = append(kvs, KV{Key: unflat(line[:tab]), Value: unflat(line[tab+1:])})
	}
	var show bytes.Buffer
	for _, kv := range kvs {
		show.Write(kv.Key)
		show.WriteByte('\t')
		show.Write(kv.Value)
		show.WriteByte('\n')
	}
	if got := c.MustRun(t, "cyr_dbtool", db, "twoskip", "show"); !bytes.Equal(got, show.Bytes()) {
		t.Fatalf("cyr_dbtool show differs from the flat copy:\nshow %q\nflat %q", got, show.Bytes())
	}
	return kvs
}

func unflat(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 0xFF && i+1 < len(b) {
			i++
			if b[i] == 0xFF {
				out = append(out, 0xFF)
			} else {
				out = append(out, b[i]&0x7F)
			}
			continue
		}
		out = append(out, b[i])
	}
	return out
}

// writeRecords stores records with the real Cyrus engine (cyr_dbtool batch,
// every key and value as a LITERAL+), creating the twoskip file.
func writeRecords(t *testing.T, c *cyrustest.Config, db string, kvs []KV) {
	t.Helper()
	var in bytes.Buffer
	in.WriteString("BEGIN\r\n")
	for _, kv := range kvs {
		fmt.Fprintf(&in, "SET {%d+}\r\n%s {%d+}\r\n%s\r\n", len(kv.Key), kv.Key, len(kv.Value), kv.Value)
	}
	in.WriteString("COMMIT\r\n")
	r := c.RunInput(t, in.Bytes(), "cyr_dbtool", "-n", db, "twoskip", "batch")
	if r.ExitCode != 0 {
		t.Fatalf("cyr_dbtool batch: exit %d: %s %s", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// dump runs `ctl_mboxlist -d` on the configuration's mailboxes.db.
func dump(t *testing.T, c *cyrustest.Config, args ...string) []byte {
	t.Helper()
	return c.MustRun(t, "ctl_mboxlist", append([]string{"-d"}, args...)...)
}

func undump(t *testing.T, c *cyrustest.Config, in []byte, args ...string) {
	t.Helper()
	r := c.RunInput(t, in, "ctl_mboxlist", append([]string{"-u"}, args...)...)
	if r.ExitCode != 0 {
		t.Fatalf("ctl_mboxlist -u %v: exit %d\n%s\n%s", args, r.ExitCode, r.Stdout, r.Stderr)
	}
}

func jsonDump(t *testing.T, entries []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := NewJSONEncoder(&b)
	for i := range entries {
		if err := enc.Add(&entries[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func acl(pairs ...string) ACL {
	a := ACL{}
	for i := 0; i+1 < len(pairs); i += 2 {
		a = append(a, ACLItem{ID: pairs[i], Rights: pairs[i+1]})
	}
	return a
}

const full = "lrswipkxtecdan"

// corpus is the entry set of the compatibility tests: every mailbox type and
// flag Cyrus 3.6 writes, remote and reserved entries, tombstones, DELETED
// names, domains, `^`, modified UTF-7, a long name, and strings that force
// quoting and literals.
func corpus() []Entry {
	long := "user.fred." + strings.Repeat("L", 200) + "." + strings.Repeat("x", 180)
	longID := strings.Repeat("i", 1100)
	return []Entry{
		{Name: "user.fred", UniqueID: "u-fred", Partition: "default", UIDValidity: 1600000000, CreatedModseq: 1, FolderModseq: 5,
			ACL: acl("fred", full, "anyone", "lrs", "-bob", "l", "admin", "lr", "group:staff", "lr")},
		{Name: "user.fred.Sent", UniqueID: "u-sent", Partition: "default", UIDValidity: 1600000001, CreatedModseq: 2, FolderModseq: 2,
			ACL: acl("fred", full, "bob", "r", "carol", "w", "dave", "l")},
		{Name: "user.fred.#calendars", Type: TypeCalendar, UniqueID: "u-cal", Partition: "default", UIDValidity: 3, ACL: acl("fred", full, "bob", "lr")},
		{Name: "user.fred.#addressbooks", Type: TypeAddressbook, UniqueID: "u-card", Partition: "default", UIDValidity: 4, ACL: acl("fred", full)},
		{Name: "user.fred.#dav", Type: TypeCollection, UniqueID: "u-dav", Partition: "default", UIDValidity: 5, ACL: acl("fred", full)},
		{Name: "user.fred.#jmapsubmission", Type: TypeSubmission, UniqueID: "u-sub", Partition: "default", UIDValidity: 6, ACL: acl("fred", full)},
		{Name: "user.fred.#jmappushsubscription", Type: TypePushSub, UniqueID: "u-push", Partition: "default", UIDValidity: 7, ACL: acl("fred", full)},
		{Name: "user.fred.#sieve", Type: TypeSieve, UniqueID: "u-sieve", Partition: "default", UIDValidity: 8, ACL: acl("fred", full)},
		{Name: "netnews.comp", Type: TypeNetnews, UniqueID: "u-news", Partition: "default", UIDValidity: 9, ACL: acl("anyone", "lrs")},
		{Name: "user.fred.Gone", Type: FlagDeleted, UniqueID: "u-gone", Partition: "default", UIDValidity: 10, CreatedModseq: 3, FolderModseq: 9, ACL: acl("fred", full, "bob", "lr")},
		{Name: "user.fred.Soon", Type: FlagReserve, UniqueID: "u-soon", Partition: "default", ACL: acl("fred", full)},
		{Name: "user.rem", Type: FlagRemote, UniqueID: "u-rem", Partition: "default", Server: "backend1", UIDValidity: 11, CreatedModseq: 10, FolderModseq: 10,
			ACL: acl("rem", full, "anyone", "lr")},
		{Name: "user.rem.Res", Type: FlagRemote | FlagReserve, UniqueID: "u-remres", Partition: "default", Server: "backend1", ACL: acl("rem", full)},
		{Name: "user.mov", Type: FlagMoving, UniqueID: "u-mov", Partition: "p2", Server: "backend2", UIDValidity: 12, ACL: acl("mov", full)},
		{Name: "user.fred.a", Type: FlagIntermediate, UniqueID: "u-int", Partition: "default", UIDValidity: 13, CreatedModseq: 1, FolderModseq: 1, ACL: ACL{}},
		{Name: "user.old", Type: FlagLegacyDirs, UniqueID: "u-old", Partition: "default", UIDValidity: 14, ACL: acl("old", full, "anyone", "r")},
		{Name: "user.oldcal.#calendars", Type: TypeCalendar | FlagLegacyDirs | FlagDeleted, UniqueID: "u-oldcal", Partition: "default", UIDValidity: 15, ACL: acl("oldcal", full)},
		{Name: "example.com!user.jane.a^b", UniqueID: "u-jane", Partition: "p2", UIDValidity: 16, FolderModseq: 3,
			ACL: acl("jane@example.com", full, "bob@example.com", "lr"),
			History: []HistoryItem{
				{Name: "example.com!user.jane.old", Mtime: 1500000000, UIDValidity: 7, FolderModseq: 3, Partition: "default"},
				{Name: "example.com!user.jane.x y", Mtime: 1400000000, Type: TypeEmail, Partition: "p2"},
			}},
		{Name: "example.com!shared.list", UniqueID: "u-exlist", Partition: "default", UIDValidity: 17, ACL: acl("anyone", "lr", "jane@example.com", full)},
		{Name: "user.fred.Entw&APw-rfe", UniqueID: "u-utf7a", Partition: "default", UIDValidity: 18, ACL: acl("fred", full)},
		{Name: "user.fred.&ZeVnLIqe-", UniqueID: "u-utf7b", Partition: "default", UIDValidity: 19, ACL: acl("fred", full)},
		{Name: long, UniqueID: "u-long", Partition: "default", UIDValidity: 20, ACL: acl("fred", full)},
		{Name: "DELETED.user.fred.Old.5F000000", UniqueID: "u-deld", Partition: "default", UIDValidity: 21, ACL: acl("fred", full, "bob", "lr")},
		{Name: "shared.pct%name", UniqueID: "u-pct", Partition: "default", UIDValidity: 26, ACL: acl("anyone", "lr")},
		{Name: "example.com!shared.q\"uo\\te*(x)", UniqueID: "u-quote", Partition: "default", UIDValidity: 27, ACL: acl("anyone", "lr")},
		{Name: "TRASH.user.fred.T.5F000001", UniqueID: "u-trash", Partition: "default", UIDValidity: 25, ACL: acl("fred", full, "bob", "r")},
		{Name: "user.john^doe", UniqueID: "u-john", Partition: "default", UIDValidity: 22, ACL: acl("john.doe", full, "anyone", "l")},
		{Name: "shared.we ird", UniqueID: "u-weird", Partition: "default", UIDValidity: 23,
			ACL: acl("anyone", "lr", "we ird", "lr", "nil", "", "pct%x", "lr", "quo\"te", "l", longID, "lr", "lr", "lr")},
		{Name: "shared.box", UniqueID: "u-box", Partition: "default", UIDValidity: 24, CreatedModseq: 18446744073709551615, FolderModseq: 4294967296,
			ACL: acl("anyone", "0123456789", "group:staff", "lrs", "-group:staff", "s", "ctl\x01\x1f\x7f/\u00e9\\\"x", "lr")},
		{Name: "shared.NIL", UniqueID: "NIL", Partition: "NIL", UIDValidity: 4294967295, ACL: acl("NIL", "lr")},
	}
}
