package registry

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/mboxlist"
)

func binSamples() []Entry {
	var a, b, c, d Entry
	a.Name = "user.alice"
	a.Server, a.Partition = "be1", "default"
	a.ACL = mboxlist.ACL{{ID: "alice", Rights: "lrswipkxtecdan"}, {ID: "-group:staff", Rights: "w"}}
	a.UniqueID, a.UIDValidity, a.CreatedModseq, a.FolderModseq, a.Mtime = "7f3e", 1700000000, 4, 9, 1700000123
	a.Revision = 42
	b.Name = "shared.news"
	b.Type = mboxlist.MBType(0x123)
	b.Locations = []Location{{Server: "be1", Partition: "p2"}, {Server: "be2", Partition: ""}}
	b.ACL = mboxlist.ACL{} // empty, not nil
	b.LegacySpecialUse = "\\Archive"
	b.History = []mboxlist.HistoryItem{{Name: "shared.old", Mtime: -5, UIDValidity: 3, CreatedModseq: 1 << 40, FolderModseq: 2, Type: 1, Partition: "p1"}}
	c.Name = "user.x" // no location, nil ACL
	d.Name = "example.com!user.ünï\x00code"
	d.Locations = []Location{{Partition: "only-part"}}
	d.Revision = -1
	return []Entry{a, b, c, d}
}

// emptySamples are entries with fields stored empty rather than absent, as a
// real Cyrus 3.6 master holds them: a RENAME target pushed by a backend is
// `P ""` (MUPDATE location "host!").
func emptySamples() []Entry {
	var a, b, c Entry
	a.Name = "user.alice.Work"
	a.Locations = []Location{{Server: "be1", EmptyPartition: true}}
	a.ACL = mboxlist.ACL{{ID: "alice", Rights: "lrswipkxtecdan"}}
	b.Name = "DELETED.user.bob.Old.6B1442CC"
	b.Server, b.Partition = "be1", ""
	b.SetPresent(mboxlist.FieldPartition, true)
	b.SetPresent(mboxlist.FieldUniqueID, true)
	b.History = []mboxlist.HistoryItem{{Name: "user.bob.Old", Type: mboxlist.FlagDeleted, EmptyPartition: true}, {Name: "user.bob.Older"}}
	c.Name = "user.c" // a second location with an empty partition, the first with none
	c.Locations = []Location{{Server: "be1"}, {Server: "be2", EmptyPartition: true}}
	return []Entry{a, b, c}
}

// An empty partition, server or uniqueid survives both stored forms, and an
// absent one stays absent: "host!" is not "host".
func TestEntryEmptyFieldsRoundTrip(t *testing.T) {
	for _, e := range emptySamples() {
		want := e
		want.Normalize()
		for _, enc := range []struct {
			name string
			b    []byte
		}{{"json", EncodeEntry(&e, false)}, {"bin", AppendEntryBinary(nil, &e, false)}} {
			got, err := DecodeEntry(enc.b, enc.name)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s %s: (-want +got):\n%s", e.Name, enc.name, diff)
			}
			if got.Primary().String() != want.Primary().String() {
				t.Errorf("%s %s: location %q, want %q", e.Name, enc.name, got.Primary(), want.Primary())
			}
		}
	}
	// Without the flags the bytes are those of before (equal content, equal
	// bytes), and "host!" from an older version's JSON means no partition.
	old := Entry{}
	old.Name = "user.x"
	old.Locations = []Location{{Server: "be1"}}
	if b := AppendEntryBinary(nil, &old, false); b[0] != binEntryV1 {
		t.Errorf("an entry without empty fields is written as V%d", b[0])
	}
	got, err := DecodeEntry([]byte(`{"n":"user.x","l":["be1!"]}`), "old")
	if err != nil {
		t.Fatal(err)
	}
	if got.Locations[0].EmptyPartition || got.Primary().String() != "be1" {
		t.Errorf("an old stored \"be1!\" decodes as %+v", got.Locations[0])
	}
	if (Location{Server: "be1", EmptyPartition: true}).String() != "be1!" || ParseLocation("be1!") != (Location{Server: "be1", EmptyPartition: true}) || ParseLocation("be1") != (Location{Server: "be1"}) {
		t.Error("Location String/ParseLocation do not keep \"be1!\" apart from \"be1\"")
	}
}

// The compact form decodes to exactly what the JSON form decodes to.
func TestEntryBinaryMatchesJSON(t *testing.T) {
	for _, e := range binSamples() {
		for _, withRev := range []bool{true, false} {
			fromJSON, err := DecodeEntry(EncodeEntry(&e, withRev), "json")
			if err != nil {
				t.Fatal(err)
			}
			bin := AppendEntryBinary(nil, &e, withRev)
			if bin[0] != binEntryV1 && bin[0] != binEntryV2 {
				t.Fatalf("first byte %#x", bin[0])
			}
			fromBin, err := DecodeEntry(bin, "bin")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fromJSON, fromBin); diff != "" {
				t.Errorf("%s withRev=%v: binary and JSON decode differently (-json +bin):\n%s", e.Name, withRev, diff)
			}
			if len(bin) >= len(EncodeEntry(&e, withRev)) {
				t.Errorf("%s: compact form %d bytes, JSON %d", e.Name, len(bin), len(EncodeEntry(&e, withRev)))
			}
		}
	}
}

// Every truncation and every single-byte change of a compact entry gives
// an error naming an offset or a different entry, never a panic.
func TestEntryBinaryCorrupt(t *testing.T) {
	for _, e := range binSamples() {
		bin := AppendEntryBinary(nil, &e, true)
		for n := 1; n < len(bin); n++ {
			_, err := DecodeEntry(bin[:n], "key k")
			if err == nil || !strings.Contains(err.Error(), "offset") || !strings.Contains(err.Error(), "key k") {
				t.Fatalf("%s truncated to %d: %v", e.Name, n, err)
			}
		}
		if _, err := DecodeEntry(append(bin, 0), "key k"); err == nil || !strings.Contains(err.Error(), "trailing") {
			t.Fatalf("trailing byte: %v", err)
		}
		for i := 1; i < len(bin); i++ {
			for _, v := range []byte{0x00, 0x7f, 0x80, 0xff} {
				m := append([]byte(nil), bin...)
				m[i] = v
				_, _ = DecodeEntry(m, "key k")
			}
		}
	}
}

func FuzzDecodeEntryBinary(f *testing.F) {
	for _, e := range binSamples() {
		f.Add(AppendEntryBinary(nil, &e, true))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		b[0] = binEntryV1
		e, err := DecodeEntry(b, "fuzz")
		if err != nil {
			return
		}
		// What decodes re-encodes to an entry that decodes the same.
		again, err := DecodeEntry(AppendEntryBinary(nil, &e, true), "again")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, again); diff != "" {
			t.Fatal(diff)
		}
	})
}

func BenchmarkEntryCodec(b *testing.B) {
	e := binSamples()[0]
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeEntry(EncodeEntry(&e, true), "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendEntryBinary(buf[:0], &e, true)
			if _, err := DecodeEntry(buf, "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
