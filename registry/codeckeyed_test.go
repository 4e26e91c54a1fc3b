package registry

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/mboxlist"
)

// keyedSamples adds to binSamples and emptySamples what the keyed form's
// shorthands must keep apart: the owner in a virtual domain and with a dot
// in the userid, an identifier that only looks like the owner, rights not
// in Cyrus's order, repeated or unknown letters, empty rights and
// identifiers, partitions that are and are not "default", and names the
// dbname does not give back (so they are stored).
func keyedSamples() []Entry {
	out := append(binSamples(), emptySamples()...)
	var a, b, c, d, e Entry
	a.Name = "example.com!user.jane^doe.Sent"
	a.Server, a.Partition = "be1", "default"
	a.ACL = mboxlist.ACL{{ID: "jane.doe@example.com", Rights: "lrswipkxtecdan"}, {ID: "jane.doe", Rights: "lr"},
		{ID: "group:staff", Rights: "lrs"}, {ID: "-anyone", Rights: "w"}, {ID: "", Rights: ""}, {ID: "bob", Rights: "rl"},
		{ID: "carol", Rights: "llr"}, {ID: "dave", Rights: "lrz"}, {ID: "erin", Rights: "lr0123456789"}}
	a.UniqueID = "c3e5b8d1-5a8e-4e6c-b2a5-0123456789ab"
	b.Name = "user.u0000123.Archive" // the benchmark's shape
	b.Server, b.Partition = "be3", "default"
	b.ACL = mboxlist.ACL{{ID: "u0000123", Rights: "lrswipkxtecdan"}, {ID: "group:g123", Rights: "lrs"}}
	b.UniqueID, b.UIDValidity, b.CreatedModseq, b.FolderModseq, b.Mtime = "000000000000007b-4", 1600001234, 1, 35, 1795319039
	c.Name = "user.a\x1fb" // DBName "user␟a␟b" reads back as user.a.b: the name is stored
	c.ACL = mboxlist.ACL{{ID: "a\x1fb", Rights: "l"}, {ID: "a", Rights: "l"}}
	c.Locations = []Location{{Server: "be1", Partition: "defaults"}, {Server: "be2", Partition: "default"}}
	c.History = []mboxlist.HistoryItem{{Name: "user.a.old", Partition: "default"}, {Name: "user.a.older", Partition: "p9"}}
	d.Name = "x\x1dy" // a domain separator inside: stored
	d.ACL = mboxlist.ACL{{ID: "x", Rights: "a"}}
	e.Name = "shared.user.notanowner"
	e.ACL = mboxlist.ACL{{ID: "user", Rights: "lr"}, {ID: "notanowner", Rights: "lr"}}
	return append(out, a, b, c, d, e)
}

// The keyed form decodes, given its dbname, to exactly what the compact
// form decodes to, for every sample; the name is left out exactly when the
// dbname gives it back.
func TestEntryKeyedMatchesCompact(t *testing.T) {
	for _, e := range keyedSamples() {
		want, err := DecodeEntry(AppendEntryBinary(nil, &e, false), "compact")
		if err != nil {
			t.Fatal(err)
		}
		k := AppendEntryKeyed(nil, &e)
		if k[0] != binEntryKeyed {
			t.Fatalf("%q: first byte %#x", e.Name, k[0])
		}
		db := DBName(e.Name)
		got, err := DecodeEntryKeyed(k, db, "keyed")
		if err != nil {
			t.Fatalf("%q: %v", e.Name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q: keyed and compact decode differently (-compact +keyed):\n%s", e.Name, diff)
		}
		stored := k[1]&keyedName != 0
		if stored != (NameFromDB(db) != e.Name) {
			t.Errorf("%q: name stored %v", e.Name, stored)
		}
		// Without the key only an entry that kept its name reads.
		got, err = DecodeEntry(k, "no key")
		if stored && (err != nil || got.Name != e.Name) {
			t.Errorf("%q: read without its key: %+v, %v", e.Name, got, err)
		}
		if !stored && (err == nil || !strings.Contains(err.Error(), "without its key") || !strings.Contains(err.Error(), "no key")) {
			t.Errorf("%q: read without its key: %v", e.Name, err)
		}
		// Every other form reads through DecodeEntryKeyed too.
		for _, other := range [][]byte{AppendEntryBinary(nil, &e, false), EncodeEntry(&e, false)} {
			got, err := DecodeEntryKeyed(other, db, "other")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%q: form %#x through DecodeEntryKeyed (-want +got):\n%s", e.Name, other[0], diff)
			}
		}
	}
}

// What the keyed form saves on the benchmark's typical user folder (name,
// owner, rights and the default partition): at least 40 of ~110 bytes.
func TestEntryKeyedSize(t *testing.T) {
	e := keyedSamples()[len(keyedSamples())-4]
	if e.Name != "user.u0000123.Archive" {
		t.Fatal(e.Name)
	}
	c, k := AppendEntryBinary(nil, &e, false), AppendEntryKeyed(nil, &e)
	t.Logf("compact %d bytes, keyed %d bytes", len(c), len(k))
	if len(c)-len(k) < 40 {
		t.Errorf("keyed form %d bytes, compact %d: saves less than 40", len(k), len(c))
	}
}

// Every truncation and every single-byte change of a keyed entry gives an
// error naming the offset and the key, or a different entry; never a
// panic.
func TestEntryKeyedCorrupt(t *testing.T) {
	for _, e := range keyedSamples() {
		k := AppendEntryKeyed(nil, &e)
		db := DBName(e.Name)
		for n := 1; n < len(k); n++ {
			_, err := DecodeEntryKeyed(k[:n], db, "key k")
			if err == nil || !strings.Contains(err.Error(), "offset") || !strings.Contains(err.Error(), "key k") {
				t.Fatalf("%q truncated to %d: %v", e.Name, n, err)
			}
		}
		if _, err := DecodeEntryKeyed(append(k, 0), db, "key k"); err == nil || !strings.Contains(err.Error(), "trailing") {
			t.Fatalf("trailing byte: %v", err)
		}
		for i := 1; i < len(k); i++ {
			for _, v := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff} {
				m := append([]byte(nil), k...)
				m[i] = v
				_, _ = DecodeEntryKeyed(m, db, "key k")
			}
		}
	}
	// The owner shorthand on a mailbox without owner, a rights mask past
	// the letters, unknown flags.
	for _, c := range []struct {
		b    []byte
		want string
	}{
		{[]byte{binEntryKeyed, 0, 0, 0, 2, 0, 0}, "without owner"},
		{[]byte{binEntryKeyed, 0, 0, 0, 2, 1, 0x80, 0x80, 0x80, 0x10}, "rights mask"},
		{[]byte{binEntryKeyed, 4}, "unknown flags"},
	} {
		_, err := DecodeEntryKeyed(c.b, DBName("shared.x"), "key k")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("% x: %v, want %q", c.b, err, c.want)
		}
	}
}

func FuzzDecodeEntryKeyed(f *testing.F) {
	for _, e := range keyedSamples() {
		f.Add(AppendEntryKeyed(nil, &e), DBName(e.Name))
	}
	f.Fuzz(func(t *testing.T, b []byte, db string) {
		if len(b) == 0 {
			return
		}
		b[0] = binEntryKeyed
		e, err := DecodeEntryKeyed(b, db, "fuzz")
		if err != nil {
			return
		}
		// What decodes re-encodes to an entry that decodes the same under
		// the dbname of its name.
		again, err := DecodeEntryKeyed(AppendEntryKeyed(nil, &e), DBName(e.Name), "again")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, again); diff != "" {
			t.Fatal(diff)
		}
	})
}
