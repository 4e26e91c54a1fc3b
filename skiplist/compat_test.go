package skiplist

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
	Name:   "skiplist",
	Create: func(path string, opts *cyrusdb.WriteOptions) (cyrusdb.Writer, error) { return Create(path, opts) },
	Open:   func(path string) (cyrusdb.Reader, error) { return Open(path, nil) },
}

// snapshot copies a file Cyrus made before the next cyr_dbtool open
// recovers (and may checkpoint) it.
func snapshot(t *testing.T, e *Env, p string) string {
	s := p + ".snap"
	Copy(t, p, s)
	return s
}

func TestReadCyrusFiles(t *testing.T) {
	e := New(t)
	cases := []struct {
		name string
		ops  []Op
		log  bool // expect a log section (ADD/DELETE/COMMIT) in the snapshot
	}{
		{"empty", nil, false},
		{"three-txns", []Op{Set("alpha", "one"), Set("beta", "two"), Set("gamma", "three")}, true},
		{"replace-delete-txn", []Op{Set("alpha", "one"), Set("beta", "two"), Set("gamma", "three"),
			Begin(), Set("beta", "two2"), Del("alpha"), Set("delta", "four"), Commit(), Del("gamma")}, true},
		{"random-binary", RandomOps(1, 400, 6, true), true},
		{"random-big-txns", RandomOps(2, 1500, 40, false), true},
		{"long-key", []Op{Set("a", "1"), Set(LongKey(70000), "v"), Set("z", strings.Repeat("x", 100000))}, false}, // large: Cyrus checkpoints at commit
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.Path(tc.name + ".db")
			e.Batch(t, p, "skiplist", tc.ops)
			snap := snapshot(t, e, p)
			db := openT(t, snap)
			want := e.Show(t, p, "skiplist")
			if got := ShowOf(t, db); !bytes.Equal(got, want) {
				t.Fatalf("show differs from cyr_dbtool:\n got %q\nwant %q", clip(got), clip(want))
			}
			if db.Tail() != nil {
				t.Fatalf("clean file has a tail: %v", db.Tail())
			}
			if got, n := SalvageShow(t, snap, salvageN); n != 0 || !bytes.Equal(got, want) {
				t.Fatalf("Salvage: %d skipped, records equal: %v", n, bytes.Equal(got, want))
			}
			fi, _ := os.Stat(snap)
			if hasLog := int64(db.Header().LogStart) < fi.Size(); hasLog != tc.log {
				t.Errorf("snapshot has a log: %v, want %v (logstart %d, size %d)", hasLog, tc.log, db.Header().LogStart, fi.Size())
			}
			n := 0
			db.Iterate(func(k, v []byte) error {
				if n%5 == 0 {
					k, v := bytes.Clone(k), bytes.Clone(v)
					got, err := db.Get(k)
					if err != nil || !bytes.Equal(got, v) {
						t.Errorf("Get(%q) = %q, %v; want %q", clip(k), clip(got), err, clip(v))
					}
				}
				n++
				return nil
			})
			if _, err := db.Get([]byte("no such key")); !errors.Is(err, cyrusdb.ErrNotFound) {
				t.Errorf("Get(missing) = %v, want ErrNotFound", err)
			}
			// After cyr_dbtool's open recovered+checkpointed the original,
			// it is pure INORDER and reads the same.
			if got := ShowOf(t, openT(t, p)); !bytes.Equal(got, want) {
				t.Fatalf("checkpointed file reads differently")
			}
		})
	}
}

// A file with both an INORDER section and a log after it (Cyrus
// checkpointed, then appended transactions).
func TestReadCyrusInorderPlusLog(t *testing.T) {
	e := New(t)
	p := e.Path("mixed.db")
	e.Batch(t, p, "skiplist", RandomOps(5, 300, 4, true))
	e.Show(t, p, "skiplist") // the open recovers and checkpoints: pure INORDER now
	e.Batch(t, p, "skiplist", RandomOps(6, 200, 4, true))
	snap := snapshot(t, e, p)
	db := openT(t, snap)
	fi, _ := os.Stat(snap)
	if db.Header().LogStart <= firstRecord || int64(db.Header().LogStart) >= fi.Size() {
		t.Fatalf("want INORDER records and a log: logstart %d, size %d", db.Header().LogStart, fi.Size())
	}
	if got, want := ShowOf(t, db), e.Show(t, p, "skiplist"); !bytes.Equal(got, want) {
		t.Fatalf("show differs:\n got %q\nwant %q", clip(got), clip(want))
	}
}

func TestReadCyrusCrashTail(t *testing.T) {
	e := New(t)
	p := e.Path("crash.db")
	e.Batch(t, p, "skiplist", RandomOps(3, 50, 3, false))
	e.Batch(t, p, "skiplist", []Op{Set("zz", "last")})
	r := e.Run(t, "cyr_dbtool", p, "skiplist", "damage")
	t.Logf("damage: exit %d %s", r.ExitCode, r.Stderr)
	snap := snapshot(t, e, p)
	db := openT(t, snap)
	if db.Tail() == nil {
		t.Fatalf("no tail reported after cyr_dbtool damage")
	}
	t.Logf("tail: %v", db.Tail())
	want := e.Show(t, p, "skiplist")
	if got, n := SalvageShow(t, snap, salvageN); n != 1 || !bytes.Equal(got, want) {
		t.Fatalf("Salvage of the crashed file: %d skipped (want 1), records equal: %v", n, bytes.Equal(got, want))
	}
	if got := ShowOf(t, db); !bytes.Equal(got, want) {
		t.Fatalf("committed state differs:\n got %q\nwant %q", got, want)
	}
}

func TestWriteCyrusAccepts(t *testing.T) {
	e := New(t)
	for _, tc := range []struct {
		name string
		ops  []Op
	}{
		{"empty", nil},
		{"one", []Op{Set("alpha", "one")}},
		{"random-binary", RandomOps(4, 800, 5, true)},
		{"long", []Op{Set(LongKey(70000), strings.Repeat("v", 70000)), Set("b", ""), Set("c", "x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := e.Path(tc.name + ".ref")
			e.Batch(t, ref, "skiplist", tc.ops)
			want := e.Show(t, ref, "skiplist")
			out := e.Path(tc.name + ".ours")
			if err := Write(out, nil, openT(t, ref)); err != nil {
				t.Fatal(err)
			}
			e.Own(t, out)
			ours, _ := os.ReadFile(out)
			if msg, ok := e.Consistent(t, out, "skiplist"); !ok {
				t.Fatalf("cyr_dbtool consistent: %s", msg)
			}
			if got := e.Show(t, out, "skiplist"); !bytes.Equal(got, want) {
				t.Fatalf("cyr_dbtool show of our file differs:\n got %q\nwant %q", clip(got), clip(want))
			}
			// Our bytes are what a Cyrus checkpoint of the same records
			// would hold, apart from levels and times: our reader and
			// Cyrus agree on them.
			db, err := NewReader(bytes.NewReader(ours), int64(len(ours)))
			if err != nil {
				t.Fatal(err)
			}
			if got := ShowOf(t, db); !bytes.Equal(got, want) {
				t.Fatalf("our reader on our file differs")
			}
			more := []Op{Set("user.new", "n"), Set("alpha", "replaced"), Del("b"), Begin(), Set("c", "3"), Del("user.new"), Set("d", "4"), Commit()}
			e.Batch(t, out, "skiplist", more)
			e.Batch(t, ref, "skiplist", more)
			snap := snapshot(t, e, out)
			if msg, ok := e.Consistent(t, out, "skiplist"); !ok {
				t.Fatalf("consistent after Cyrus wrote to our file: %s", msg)
			}
			want2 := e.Show(t, ref, "skiplist")
			if got := e.Show(t, out, "skiplist"); !bytes.Equal(got, want2) {
				t.Fatalf("after Cyrus writes: show differs")
			}
			if got := ShowOf(t, openT(t, snap)); !bytes.Equal(got, want2) {
				t.Fatalf("our reader after Cyrus writes: differs")
			}
		})
	}
}

func salvageAll(f *os.File, size int64, fn func(k, v []byte) error) (cyrusdb.Salvaged, error) {
	return Salvage(f, size, fn)
}

func salvageN(f *os.File, size int64, fn func(k, v []byte) error) (int, error) {
	sv, err := salvageAll(f, size, fn)
	return len(sv.Skipped) + len(sv.Doubts), err
}

// A file larger than the writer's buffers: Cyrus finds it consistent and
// shows what we read.
func TestWriteLargeCyrusAccepts(t *testing.T) { fileFormat.CheckWriteLarge(t) }

// Cyrus's recovery checkpoint renames a new file over the path and
// truncates the old inode: a reader that had it open reports ErrChanged.
func TestChangedByCyrusCheckpoint(t *testing.T) {
	e := New(t)
	p := e.Path("live.db")
	e.Batch(t, p, "skiplist", RandomOps(12, 40, 3, false))
	db := openT(t, p)
	want := e.Show(t, p, "skiplist") // the open recovers and checkpoints
	err := db.Iterate(func(k, v []byte) error { return nil })
	if !errors.Is(err, cyrusdb.ErrChanged) {
		t.Fatalf("Iterate after a checkpoint: %v, want ErrChanged", err)
	}
	if got := ShowOf(t, openT(t, p)); !bytes.Equal(got, want) {
		t.Fatal("reopened reader differs from cyr_dbtool show")
	}
}

// Real Cyrus 3.6.1 shows half the records of a truncated checkpointed
// skiplist and calls it fine; we report the truncation with its offset and
// Salvage recovers every record before the cut.
func TestTruncatedCyrusFile(t *testing.T) {
	e := New(t)
	p := e.Path("trunc.db")
	e.Batch(t, p, "skiplist", RandomOps(13, 300, 4, false))
	full := e.Show(t, p, "skiplist") // checkpoints: pure INORDER now
	raw, _ := os.ReadFile(p)
	cut := len(raw) / 2
	if err := os.WriteFile(p, raw[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	e.Own(t, p)
	_, err := Open(p, nil)
	var ce *cyrusdb.CorruptError
	if !errors.As(err, &ce) || ce.Offset != offLogStart {
		t.Fatalf("Open of a truncated file: %v, want CorruptError at logstart (offset %d)", err, offLogStart)
	}
	got, n := SalvageShow(t, p, salvageN)
	if n == 0 || len(got) == 0 || !bytes.HasPrefix(full, got) {
		t.Fatalf("Salvage: %d skipped, %d bytes, prefix of the full show: %v", n, len(got), bytes.HasPrefix(full, got))
	}
	r := e.Run(t, "cyr_dbtool", p, "skiplist", "show")
	t.Logf("cyr_dbtool show on the truncated file: exit %d, %d of %d bytes of records", r.ExitCode, len(r.Stdout), len(full))
}
