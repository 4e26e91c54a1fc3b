package cyrusdbtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
)

// FileFormat is one on-disk format under test (skiplist or twoskip): its
// name for cyr_dbtool and our writer and reader of it, so that what both
// formats' tests and benchmarks do alike is written once, here and in
// bench.go.
type FileFormat struct {
	Name   string // as cyr_dbtool names it
	Create func(path string, opts *cyrusdb.WriteOptions) (cyrusdb.Writer, error)
	Open   func(path string) (cyrusdb.Reader, error)
}

// SampleRecords is n mailbox-like records in key order.
func SampleRecords(n int) []Pair {
	var r []Pair
	for i := 0; i < n; i++ {
		r = append(r, Pair{fmt.Sprintf("user.u%04d", i), fmt.Sprintf("%d 1 default u%04d lrswipkxtecda", i, i)})
	}
	return r
}

// Build writes recs (in key order) with f's writer and returns the file's
// bytes.
func (f FileFormat) Build(t testing.TB, opts *cyrusdb.WriteOptions, recs []Pair) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "t.db")
	w, err := f.Create(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range recs {
		if err := w.Add([]byte(x.Key), []byte(x.Value)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ReadShow opens path with f's reader and returns its records as
// `cyr_dbtool show` prints them.
func (f FileFormat) ReadShow(t testing.TB, path string) []byte {
	t.Helper()
	db, err := f.Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	defer db.Close()
	return ShowOf(t, db)
}

// ShowOf returns db's records as `cyr_dbtool show` prints them.
func ShowOf(t testing.TB, db cyrusdb.Reader) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := cyrusdb.WriteShow(&buf, db); err != nil {
		t.Fatalf("WriteShow: %v", err)
	}
	return buf.Bytes()
}

// LongKey is a mailbox name of n+5 bytes: "user." and n k's.
func LongKey(n int) string { return "user." + strings.Repeat("k", n) }

// CheckWriteLarge writes a file larger than the writer's buffers (pointers
// patched both in the buffer and in the file, some records spanning many
// blocks): real Cyrus finds it consistent and shows what our reader reads.
func (f FileFormat) CheckWriteLarge(t *testing.T) {
	e := New(t)
	p := e.Path("large.db")
	w, err := f.Create(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	val := strings.Repeat("v", 100)
	for i := 0; i < 30000; i++ {
		k := fmt.Sprintf("Nuser.u%06d", i)
		if i%1000 == 0 {
			k += strings.Repeat("x", 40000) // some records span many blocks
		}
		if err := w.Add([]byte(k), []byte(val)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Size() < 4<<20 {
		t.Fatalf("file only %d bytes", fi.Size())
	}
	want := f.ReadShow(t, p)
	e.Own(t, p)
	if msg, ok := e.Consistent(t, p, f.Name); !ok {
		t.Fatalf("consistent: %s", msg)
	}
	if got := e.Show(t, p, f.Name); !bytes.Equal(got, want) {
		t.Fatalf("cyr_dbtool show differs from our reader (%d vs %d bytes)", len(got), len(want))
	}
}

// WantCorrupt fails t unless err is a *cyrusdb.CorruptError at offset off
// (any offset when off < 0).
func WantCorrupt(t testing.TB, err error, off int64) {
	t.Helper()
	var ce *cyrusdb.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v (%T), want *cyrusdb.CorruptError at offset %d", err, err, off)
	}
	if off >= 0 && ce.Offset != off {
		t.Fatalf("error %q at offset %d, want offset %d", ce, ce.Offset, off)
	}
}

// CheckFixtures reads each testdata/*.db (at least min of them, made by
// real Cyrus: cyrusdb/make-fixtures.sh) with read and fails t unless it
// gives the bytes of the .show file beside it (what cyr_dbtool showed).
func CheckFixtures(t *testing.T, min int, read func(raw []byte) ([]byte, error)) {
	files, _ := filepath.Glob("testdata/*.db")
	if len(files) < min {
		t.Fatalf("fixtures missing: %v", files)
	}
	for _, p := range files {
		raw, _ := os.ReadFile(p)
		want, err := os.ReadFile(p[:len(p)-3] + ".show")
		if err != nil {
			t.Fatal(err)
		}
		got, err := read(raw)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: err %v\n got %q\nwant %q", p, err, got, want)
		}
	}
}

// AddFileSeeds adds every testdata/*.db to f's seed corpus.
func AddFileSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.db")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
