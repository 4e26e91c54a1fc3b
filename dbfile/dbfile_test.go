package dbfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
	. "github.com/murderkit/murderkit/cyrusdb/cyrusdbtest"
)

func showOf(t *testing.T, r cyrusdb.Reader) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := cyrusdb.WriteShow(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Both formats made by real Cyrus are detected and read; converting either
// into the other with Create gives a file Cyrus shows identically (keys
// re-sorted for the target's order).
func TestDetectOpenConvert(t *testing.T) {
	e := New(t)
	ops := RandomOps(9, 200, 4, false)
	for _, f := range []cyrusdb.Format{cyrusdb.Twoskip, cyrusdb.Skiplist} {
		p := e.Path(f.String() + ".db")
		e.Batch(t, p, f.String(), ops)
		snap := p + ".snap"
		Copy(t, p, snap)
		want := e.Show(t, p, f.String())
		if got, err := Detect(snap); err != nil || got != f {
			t.Fatalf("Detect = %v, %v; want %v", got, err, f)
		}
		r, err := Open(snap)
		if err != nil {
			t.Fatal(err)
		}
		if r.Format() != f {
			t.Fatalf("Format() = %v", r.Format())
		}
		if got := showOf(t, r); !bytes.Equal(got, want) {
			t.Fatalf("%v: show differs", f)
		}
		raw, _ := os.ReadFile(snap)
		r2, err := OpenReaderAt(bytes.NewReader(raw), int64(len(raw)))
		if err != nil || !bytes.Equal(showOf(t, r2), want) {
			t.Fatalf("OpenReaderAt: %v", err)
		}
		// Convert to the other format (ASCII keys: both orders agree).
		other := cyrusdb.Skiplist
		if f == cyrusdb.Skiplist {
			other = cyrusdb.Twoskip
		}
		out := e.Path(f.String() + "-to-" + other.String())
		w, err := Create(out, other, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Iterate(w.Add); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		e.Own(t, out)
		if msg, ok := e.Consistent(t, out, other.String()); !ok {
			t.Fatalf("consistent: %s", msg)
		}
		if got := e.Show(t, out, other.String()); !bytes.Equal(got, want) {
			t.Fatalf("%v→%v: cyr_dbtool show differs", f, other)
		}
	}
}

func TestBadMagic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.db")
	for _, content := range []string{"", "short", "key\tvalue\nkey2\tvalue2\n", "\xa1\x02\x8b\x0dtwomfile\x00\x00\x00\x00\x00\x00\x00\x00"} {
		os.WriteFile(p, []byte(content), 0o600)
		_, err := Open(p)
		var ce *cyrusdb.CorruptError
		if !errors.As(err, &ce) || ce.Offset != 0 {
			t.Errorf("Open(%q) = %v, want CorruptError at offset 0", content, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSalvageByPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.db")
	w, err := Create(p, cyrusdb.Twoskip, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Add([]byte("a"), []byte("1"))
	w.Add([]byte("b"), []byte("2"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	f, sk, err := Salvage(p, func(k, v []byte) error { n++; return nil })
	if err != nil || f != cyrusdb.Twoskip || n != 2 || len(sk.Skipped) != 0 || len(sk.Doubts) != 0 {
		t.Fatalf("Salvage = %v %v %v n=%d", f, sk, err, n)
	}
}
