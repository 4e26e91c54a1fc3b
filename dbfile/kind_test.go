package dbfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
)

// Files Cyrus wrote (testdata: real Cyrus 3.6.1 databases and its JSON
// dumps) are sniffed as their kind; dumps, damaged headers and other files
// are told apart by their first bytes, with an error at the offset named.
func TestSniffKind(t *testing.T) {
	for name, want := range map[string]Kind{
		"sample.twoskip.db": KindTwoskip, "sample.skiplist.db": KindSkiplist,
		"empty.twoskip.db": KindTwoskip, "empty.skiplist.db": KindSkiplist,
		"sample.twoskip.db.json": KindJSON,
	} {
		k, err := Sniff(filepath.Join("../testdata", name))
		if err != nil || k != want {
			t.Errorf("%s: %v, %v; want %v", name, k, err, want)
		}
	}
	tw, err := os.ReadFile("../testdata/sample.twoskip.db")
	if err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte(nil), tw[:SniffLen]...)
	damaged[3] ^= 0xff
	for _, c := range []struct {
		head   string
		want   Kind
		errHas string
		off    int64
	}{
		{head: "user.a\tdefault\tanyone lrs\n", want: KindLegacy},
		{head: " \n\t\n", want: KindLegacy},
		{head: "  {\"user.a\": {}}", want: KindJSON},
		{head: "", errHas: "the file is empty (0 bytes)"},
		{head: string(damaged), errHas: "damaged header: the magic number differs from a twoskip file's in 1 of its 20 bytes"},
		{head: "\xa1\x02\x8b\x0dsomething else\x00", errHas: "a Cyrus database header of an unknown kind"},
		{head: "user.a\tdef\x00ault\n", errHas: "binary data (a NUL byte)", off: 10},
		{head: "hello world\n", errHas: "bad magic: neither a skiplist or twoskip file"},
	} {
		k, err := DetectKind([]byte(c.head))
		if c.errHas == "" {
			if err != nil || k != c.want {
				t.Errorf("%q: %v, %v; want %v", c.head, k, err, c.want)
			}
			continue
		}
		var ce *cyrusdb.CorruptError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.errHas) || ce.Offset != c.off {
			t.Errorf("%.20q: %v, %v; want a CorruptError at %d with %q", c.head, k, err, c.off, c.errHas)
		}
	}
	if KindJSON.IsDB() || !KindSkiplist.IsDB() || KindSkiplist.Format() != cyrusdb.Skiplist || KindLegacy.Format() != cyrusdb.Unknown {
		t.Error("IsDB/Format")
	}
}

// TestParseKind: every Kind's String parses back to it, and the key order
// of a database kind is the one its file holds: the real Cyrus skiplist
// fixture's keys ascend by Compare of KindSkiplist, the twoskip one's by
// KindTwoskip; anything else is no kind.
func TestParseKind(t *testing.T) {
	for _, k := range []Kind{KindTwoskip, KindSkiplist, KindJSON, KindLegacy} {
		if got, ok := ParseKind(k.String()); !ok || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	for _, s := range []string{"", "Twoskip", "unknown", "berkeley", "twoskip "} {
		if k, ok := ParseKind(s); ok {
			t.Errorf("ParseKind(%q) = %v, want none", s, k)
		}
	}
	for name, k := range map[string]Kind{"sample.skiplist.db": KindSkiplist, "sample.twoskip.db": KindTwoskip} {
		db, err := Open(filepath.Join("../testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var prev []byte
		n := 0
		err = db.Iterate(func(key, _ []byte) error {
			if n > 0 && k.Compare()(prev, key) >= 0 {
				t.Errorf("%s: key %q not after %q by %v's order", name, key, prev, k)
			}
			prev = append(prev[:0], key...)
			n++
			return nil
		})
		db.Close()
		if err != nil || n < 2 {
			t.Fatalf("%s: %d records, %v", name, n, err)
		}
	}
}
