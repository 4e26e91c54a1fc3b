package cyrusdbtest

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/cyrustest"
)

// Op is one line of a cyr_dbtool batch: SET, DELETE, BEGIN, COMMIT, ABORT.
type Op struct {
	Cmd        string
	Key, Value []byte
}

// Set, Del, Begin and Commit build Ops.
func Set(k, v string) Op { return Op{Cmd: "SET", Key: []byte(k), Value: []byte(v)} }
func Del(k string) Op    { return Op{Cmd: "DELETE", Key: []byte(k)} }
func Begin() Op          { return Op{Cmd: "BEGIN"} }
func Commit() Op         { return Op{Cmd: "COMMIT"} }

// literal writes b as an IMAP non-synchronising literal.
func literal(buf *bytes.Buffer, b []byte) {
	fmt.Fprintf(buf, "{%d+}\r\n", len(b))
	buf.Write(b)
}

// BatchInput renders ops as cyr_dbtool batch input.
func BatchInput(ops []Op) []byte {
	var buf bytes.Buffer
	for _, op := range ops {
		buf.WriteString(op.Cmd)
		switch op.Cmd {
		case "SET":
			buf.WriteByte(' ')
			literal(&buf, op.Key)
			buf.WriteByte(' ')
			literal(&buf, op.Value)
		case "DELETE", "GET":
			buf.WriteByte(' ')
			literal(&buf, op.Key)
		}
		buf.WriteString("\r\n")
	}
	return buf.Bytes()
}

// Env is a scratch Cyrus configuration for format tests.
type Env struct {
	*cyrustest.Config
}

// New makes a scratch configuration.
func New(t testing.TB) *Env { return &Env{cyrustest.NewConfig(t)} }

// Path returns an absolute path for a file name in the scratch directory.
func (e *Env) Path(name string) string { return filepath.Join(e.Dir, name) }

// Batch runs ops through "cyr_dbtool -n path format batch".
func (e *Env) Batch(t testing.TB, path, format string, ops []Op) {
	t.Helper()
	r := e.RunInput(t, BatchInput(ops), "cyr_dbtool", "-n", path, format, "batch")
	if r.ExitCode != 0 {
		t.Fatalf("cyr_dbtool batch: exit %d: %s %s", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// Show returns what "cyr_dbtool path format show" prints.
func (e *Env) Show(t testing.TB, path, format string) []byte {
	t.Helper()
	return e.MustRun(t, "cyr_dbtool", path, format, "show")
}

// Consistent runs "cyr_dbtool path format consistent" and returns its
// output and whether it said the file is consistent.
func (e *Env) Consistent(t testing.TB, path, format string) (string, bool) {
	t.Helper()
	r := e.Run(t, "cyr_dbtool", path, format, "consistent")
	out := string(r.Stdout) + string(r.Stderr)
	return out, r.ExitCode == 0 && bytes.Contains(r.Stdout, []byte("Yes, consistent"))
}

// Own gives a file we wrote to the cyrus user so cyr_dbtool may write it.
func (e *Env) Own(t testing.TB, path string) {
	t.Helper()
	if err := cyrustest.Chown(path); err != nil {
		t.Fatal(err)
	}
}

// Copy copies a file (to keep a snapshot before Cyrus touches it).
func Copy(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// RandomOps makes n operations over a small key space: sets (new keys and
// replaces) and deletes, grouped into transactions of 1..maxTxn ops, with
// keys that include binary and non-ASCII bytes when binary is set.
func RandomOps(seed uint64, n, maxTxn int, binary bool) []Op {
	rng := rand.New(rand.NewPCG(seed, 1))
	key := func() string {
		k := fmt.Sprintf("user.u%03d", rng.IntN(n/2+1))
		if binary && rng.IntN(5) == 0 {
			k += string([]byte{byte(rng.IntN(256)), 0xC3, 0xA9, byte(1 + rng.IntN(255))})
		}
		return k
	}
	var ops []Op
	for len(ops) < n {
		m := 1 + rng.IntN(maxTxn)
		if m > 1 {
			ops = append(ops, Begin())
		}
		for i := 0; i < m; i++ {
			if rng.IntN(4) == 0 {
				ops = append(ops, Del(key()))
			} else {
				v := fmt.Sprintf("%d value %d", rng.Uint32(), i)
				if binary && rng.IntN(4) == 0 {
					v += "\t\r\n\x00\xff"
				}
				ops = append(ops, Set(key(), v))
			}
		}
		if m > 1 {
			ops = append(ops, Commit())
		}
	}
	return ops
}

// SalvageShow runs a salvage function over the file at path and returns
// the records in "show" form and the skipped places.
func SalvageShow(t testing.TB, path string, salvage func(f *os.File, size int64, fn func(k, v []byte) error) (int, error)) ([]byte, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var buf bytes.Buffer
	n, err := salvage(f, st.Size(), func(k, v []byte) error {
		buf.Write(k)
		buf.WriteByte('\t')
		buf.Write(v)
		buf.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatalf("salvage %s: %v", path, err)
	}
	return buf.Bytes(), n
}

// Pair is one key and value.
type Pair struct{ Key, Value string }

// SalvageCut salvages b, a file cut at len(b), with salvage (a format's
// Salvage over b with fn as its record callback) and returns the records it
// found, the keys it doubts and what it reported.
func SalvageCut(t testing.TB, b []byte, salvage func(r io.ReaderAt, size int64, fn func(k, v []byte) error) (cyrusdb.Salvaged, error)) ([]Pair, map[string]bool, cyrusdb.Salvaged) {
	t.Helper()
	var recs []Pair
	sv, err := salvage(bytes.NewReader(b), int64(len(b)), func(k, v []byte) error {
		recs = append(recs, Pair{Key: string(k), Value: string(v)})
		return nil
	})
	if err != nil {
		t.Fatalf("cut at %d: Salvage: %v", len(b), err)
	}
	doubts := map[string]bool{}
	for _, d := range sv.Doubts {
		doubts[string(d.Key)] = true
	}
	return recs, doubts, sv
}

// Committed replays ops the way cyr_dbtool batch commits them (an op
// outside BEGIN…COMMIT is its own transaction; DELETE of a missing key is
// no error) and returns every pair that was live after some commit, and
// the state after the last one.
func Committed(ops []Op) (ever map[Pair]bool, final map[string]string) {
	ever, final = map[Pair]bool{}, map[string]string{}
	var txn []Op
	in := false
	apply := func(ops []Op) {
		touched := map[string]bool{}
		for _, op := range ops {
			switch op.Cmd {
			case "SET":
				final[string(op.Key)] = string(op.Value)
			case "DELETE":
				delete(final, string(op.Key))
			}
			touched[string(op.Key)] = true
		}
		for k := range touched {
			if v, ok := final[k]; ok {
				ever[Pair{k, v}] = true
			}
		}
	}
	for _, op := range ops {
		switch op.Cmd {
		case "BEGIN":
			in, txn = true, txn[:0]
		case "COMMIT":
			apply(txn)
			in = false
		case "ABORT":
			in = false
		default:
			if in {
				txn = append(txn, op)
			} else {
				apply([]Op{op})
			}
		}
	}
	return ever, final
}

// ParseShow splits "cyr_dbtool show" output (key TAB value LF; values
// may hold TAB but keys made by RandomOps hold no TAB or LF) into a map.
func ParseShow(t testing.TB, show []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range bytes.SplitAfter(show, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte("\t"))
		if !ok {
			t.Fatalf("show line without TAB: %q", line)
		}
		m[string(k)] = string(v)
	}
	return m
}

// CutCheck accumulates the checks of salvages of one file cut at many
// offsets.
type CutCheck struct {
	Ever  map[Pair]bool     // every pair live after some commit
	Final map[string]string // the state of the whole file
	// Cuts, Returned, Stale (returned but not the final value: stale or
	// resurrected) and Doubts (returned and listed as possibly stale) count
	// over all cuts.
	Cuts, Returned, Stale, Doubts int
}

// Check checks one salvage of the file cut at cut: every record returned
// is a pair Cyrus committed at some point, and every returned record that
// is not the whole file's value is listed in doubts (by key).
func (c *CutCheck) Check(t testing.TB, cut int64, recs []Pair, doubts map[string]bool) {
	t.Helper()
	c.Cuts++
	for _, r := range recs {
		c.Returned++
		if !c.Ever[r] {
			t.Fatalf("cut at %d: salvage returned %q=%q, a pair Cyrus never committed", cut, r.Key, r.Value)
		}
		if doubts[r.Key] {
			c.Doubts++
		}
		if v, ok := c.Final[r.Key]; !ok || v != r.Value {
			c.Stale++
			if !doubts[r.Key] {
				what := "resurrected (deleted in the whole file)"
				if ok {
					what = fmt.Sprintf("stale (the whole file has %q)", v)
				}
				t.Fatalf("cut at %d: salvage returned %q=%q without listing it as possibly stale; it is %s", cut, r.Key, r.Value, what)
			}
		}
	}
}
