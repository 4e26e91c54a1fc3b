// Package cyrusdbtest drives the real Cyrus 3.6.1 cyr_dbtool for the
// compatibility tests of the skiplist, twoskip and dbfile packages: it
// builds files with Cyrus's own engine and prints them with Cyrus's own
// "show". It fails the test (never skips) when the tools are missing.
//
// Source of truth: imap/cyr_dbtool.c behaviour as observed with the Debian
// cyrus-imapd 3.6.1 binaries.
package cyrusdbtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

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
