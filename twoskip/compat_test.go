package twoskip

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
	. "github.com/murderkit/murderkit/cyrusdb/cyrusdbtest"
)

func openT(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fileFormat is this package's writer and reader for the tests and
// benchmarks both formats share (cyrusdbtest.FileFormat).
var fileFormat = FileFormat{
	Name:   "twoskip",
	Create: func(path string, opts *cyrusdb.WriteOptions) (cyrusdb.Writer, error) { return Create(path, opts) },
	Open:   func(path string) (cyrusdb.Reader, error) { return Open(path, nil) },
}

// Files written by real Cyrus read back exactly as cyr_dbtool show prints.
func TestReadCyrusFiles(t *testing.T) {
	e := New(t)
	cases := []struct {
		name string
		ops  []Op
	}{
		{"empty", nil},
		{"single", []Op{Set("alpha", "one")}},
		{"txns-replace-delete", []Op{Set("alpha", "one"), Set("beta", "two"), Set("gamma", "three"),
			Begin(), Set("beta", "two2"), Del("alpha"), Set("delta", "four"), Commit(), Del("gamma")}},
		{"random-binary", RandomOps(1, 400, 6, true)},
		{"random-ascii-big-txns", RandomOps(2, 600, 40, false)},
		{"long-key", []Op{Set("a", "1"), Set(LongKey(70000), "v"), Set("z", strings.Repeat("x", 100000)), Set(LongKey(65530), "w"), Set(LongKey(65529), "65534 bytes: no escape")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.Path(tc.name + ".db")
			e.Batch(t, p, "twoskip", append([]Op{Begin(), Commit()}, tc.ops...))
			want := e.Show(t, p, "twoskip")
			db := openT(t, p)
			if got := ShowOf(t, db); !bytes.Equal(got, want) {
				t.Fatalf("show differs from cyr_dbtool:\n got %q\nwant %q", clip(got), clip(want))
			}
			if db.Tail() != nil {
				t.Fatalf("clean file has a tail: %v", db.Tail())
			}
			// Salvage of an undamaged file (replaying every transaction,
			// DELETEs resolved through their successors) finds the same.
			if got, n := SalvageShow(t, p, salvageN); n != 0 || !bytes.Equal(got, want) {
				t.Fatalf("Salvage: %d skipped, records equal: %v", n, bytes.Equal(got, want))
			}
			// Get agrees with the iteration.
			n := 0
			db.Iterate(func(k, v []byte) error {
				if n%7 == 0 {
					k, v := bytes.Clone(k), bytes.Clone(v)
					got, err := db.Get(k)
					if err != nil || !bytes.Equal(got, v) {
						t.Errorf("Get(%q) = %q, %v; want %q", clip(k), clip(got), err, clip(v))
					}
				}
				n++
				return nil
			})
			if _, err := db.Get([]byte("no such key\xff")); !errors.Is(err, cyrusdb.ErrNotFound) {
				t.Errorf("Get(missing) error = %v, want ErrNotFound", err)
			}
			// repack (a Cyrus checkpoint) keeps the same records, generation+1.
			e.MustRun(t, "cyr_dbtool", p, "twoskip", "repack")
			db2 := openT(t, p)
			if got := ShowOf(t, db2); !bytes.Equal(got, want) {
				t.Fatalf("after repack: show differs")
			}
			// (Cyrus 3.6.1 leaves generation 1 when it repacks an empty file.)
			if g := db2.Header().Generation; len(tc.ops) > 0 && g != db.Header().Generation+1 {
				t.Errorf("generation after repack = %d, want %d", g, db.Header().Generation+1)
			}
			// The DB opened before the repack notices the replacement.
			if err := db.Iterate(func(k, v []byte) error { return nil }); !errors.Is(err, cyrusdb.ErrChanged) {
				t.Errorf("Iterate on a replaced file: err = %v, want ErrChanged", err)
			}
		})
	}
}

// A crash tail made by cyr_dbtool damage is not an error: the committed
// state is read and the tail is described.
func TestReadCyrusCrashTail(t *testing.T) {
	e := New(t)
	p := e.Path("crash.db")
	e.Batch(t, p, "twoskip", RandomOps(3, 50, 3, false))
	want := e.Show(t, p, "twoskip")
	r := e.Run(t, "cyr_dbtool", p, "twoskip", "damage")
	t.Logf("damage: exit %d %s", r.ExitCode, r.Stderr)
	raw, _ := os.ReadFile(p)
	db, err := NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if db.Tail() == nil {
		t.Fatalf("no tail reported after cyr_dbtool damage (header %+v, size %d)", db.Header(), len(raw))
	}
	if got := ShowOf(t, db); !bytes.Equal(got, want) {
		t.Fatalf("committed state differs:\n got %q\nwant %q", got, want)
	}
	if got, n := SalvageShow(t, p, salvageN); n != 1 || !bytes.Equal(got, want) {
		t.Fatalf("Salvage of the crashed file: %d skipped (want 1, the uncommitted txn), records equal: %v", n, bytes.Equal(got, want))
	}
	// Cyrus's recovery agrees.
	if got := e.Show(t, p, "twoskip"); !bytes.Equal(got, want) {
		t.Fatalf("cyr_dbtool show after recovery = %q, want %q", got, want)
	}
}

// Files we write are accepted by real Cyrus, show the same bytes as the
// file Cyrus made from the same records, and Cyrus can go on writing.
func TestWriteCyrusAccepts(t *testing.T) {
	e := New(t)
	for _, tc := range []struct {
		name string
		ops  []Op
	}{
		{"empty", nil},
		{"one", []Op{Set("alpha", "one")}},
		{"random-binary", RandomOps(4, 800, 5, true)},
		{"long", []Op{Set(LongKey(70000), strings.Repeat("v", 70000)), Set("b", ""), Set(LongKey(65535-5), "x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := e.Path(tc.name + ".ref")
			e.Batch(t, ref, "twoskip", append([]Op{Begin(), Commit()}, tc.ops...))
			want := e.Show(t, ref, "twoskip")
			out := e.Path(tc.name + ".ours")
			if err := Write(out, nil, openT(t, ref)); err != nil {
				t.Fatal(err)
			}
			e.Own(t, out)
			if msg, ok := e.Consistent(t, out, "twoskip"); !ok {
				t.Fatalf("cyr_dbtool consistent: %s", msg)
			}
			if got := e.Show(t, out, "twoskip"); !bytes.Equal(got, want) {
				t.Fatalf("cyr_dbtool show of our file differs:\n got %q\nwant %q", clip(got), clip(want))
			}
			raw, _ := os.ReadFile(out)
			if bytes.Contains(raw, blank[:]) {
				t.Errorf("our file contains a BLANK record")
			}
			// Cyrus goes on writing to it.
			more := []Op{Set("user.new", "n"), Set("alpha", "replaced"), Del("b"), Begin(), Set("c", "3"), Del("user.new"), Set("d", "4"), Commit()}
			e.Batch(t, out, "twoskip", more)
			e.Batch(t, ref, "twoskip", more)
			if msg, ok := e.Consistent(t, out, "twoskip"); !ok {
				t.Fatalf("consistent after Cyrus wrote to our file: %s", msg)
			}
			want2 := e.Show(t, ref, "twoskip")
			if got := e.Show(t, out, "twoskip"); !bytes.Equal(got, want2) {
				t.Fatalf("after Cyrus writes: show differs")
			}
			if got := ShowOf(t, openT(t, out)); !bytes.Equal(got, want2) {
				t.Fatalf("our reader after Cyrus writes: differs")
			}
			// Replacing bumps the generation.
			g := openT(t, out).Header().Generation
			if err := Write(out, nil, openT(t, ref)); err != nil {
				t.Fatal(err)
			}
			if g2 := openT(t, out).Header().Generation; g2 != g+1 {
				t.Errorf("generation after replace = %d, want %d", g2, g+1)
			}
		})
	}
}

func salvageAll(f *os.File, size int64, fn func(k, v []byte) error) (cyrusdb.Salvaged, error) {
	return Salvage(f, size, nil, fn)
}

func salvageN(f *os.File, size int64, fn func(k, v []byte) error) (int, error) {
	sv, err := salvageAll(f, size, fn)
	return len(sv.Skipped) + len(sv.Doubts), err
}

// A file larger than the writer's buffers: Cyrus finds it consistent and
// shows what we read.
func TestWriteLargeCyrusAccepts(t *testing.T) { fileFormat.CheckWriteLarge(t) }

// A commit by Cyrus while a reader has the file open is detected
// (current_size moved); a fresh Open reads the new state.
func TestChangedByCyrusCommit(t *testing.T) {
	e := New(t)
	p := e.Path("live.db")
	e.Batch(t, p, "twoskip", RandomOps(11, 40, 3, false))
	db := openT(t, p)
	e.Batch(t, p, "twoskip", []Op{Set("user.zz", "new")})
	err := db.Iterate(func(k, v []byte) error { return nil })
	if !errors.Is(err, cyrusdb.ErrChanged) {
		t.Fatalf("Iterate after a concurrent commit: %v, want ErrChanged", err)
	}
	if _, err := db.Get([]byte("user.zz")); !errors.Is(err, cyrusdb.ErrChanged) {
		t.Fatalf("Get after a concurrent commit: %v, want ErrChanged", err)
	}
	if got, want := ShowOf(t, openT(t, p)), e.Show(t, p, "twoskip"); !bytes.Equal(got, want) {
		t.Fatal("reopened reader differs from cyr_dbtool show")
	}
}

// 64-bit length extensions on short keys and values (which Cyrus writes
// only past 65534/4 GiB) are read by us and by Cyrus alike.
func TestLengthEscapes(t *testing.T) {
	e := New(t)
	p := e.Path("esc.db")
	w, err := Create(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.forceEscape = true
	for _, k := range []string{"a", "b", "c", LongKey(65529), LongKey(65530)} {
		if err := w.Add([]byte(k), []byte("value of "+k[:1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	if be.Uint16(raw[firstRecord+2:]) != keyLenEscape || be.Uint32(raw[firstRecord+4:]) != valLenEscape {
		t.Fatalf("first record has no escapes: % x", raw[firstRecord:firstRecord+8])
	}
	want := ShowOf(t, openT(t, p))
	e.Own(t, p)
	if msg, ok := e.Consistent(t, p, "twoskip"); !ok {
		t.Fatalf("consistent: %s", msg)
	}
	if got := e.Show(t, p, "twoskip"); !bytes.Equal(got, want) {
		t.Fatalf("cyr_dbtool show %q, ours %q", clip(got), clip(want))
	}
}
