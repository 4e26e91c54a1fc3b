package twoskip

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
	. "github.com/murderkit/murderkit/cyrusdb/cyrusdbtest"
	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/fileio"
)

// salvageCut salvages b and returns the records and the doubted keys.
func salvageCut(t *testing.T, b []byte, o *SalvageOptions) ([]Pair, map[string]bool, cyrusdb.Salvaged) {
	t.Helper()
	return SalvageCut(t, b, func(r io.ReaderAt, size int64, fn func(k, v []byte) error) (cyrusdb.Salvaged, error) {
		return Salvage(r, size, o, fn)
	})
}

// checkModel fails unless cyr_dbtool shows exactly the model's state.
func checkModel(t *testing.T, e *Env, p string, final map[string]string) {
	t.Helper()
	got := ParseShow(t, e.Show(t, p, "twoskip"))
	if len(got) != len(final) {
		t.Fatalf("model of the ops: %d keys, cyr_dbtool shows %d", len(final), len(got))
	}
	for k, v := range got {
		if final[k] != v {
			t.Fatalf("model of the ops: %q=%q, cyr_dbtool shows %q", k, final[k], v)
		}
	}
}

// A twoskip Cyrus wrote, repacked (one transaction that copies every record
// in key order, COMMIT last) and then changed by transactions that add,
// replace and delete keys, cut at every 8-byte offset. A cut inside the
// repack leaves no COMMIT in the file, but the header (rewritten in place
// at every commit) says the repack committed: Salvage returns its complete
// records before the cut. At every cut, every record returned is a pair
// Cyrus committed at some point, and every one that is not the whole
// file's value is listed as possibly stale or resurrected.
func TestSalvageCutCyrusFile(t *testing.T) {
	e := New(t)
	for _, tc := range []struct {
		name          string
		before, after []Op
	}{
		{"small-txns", RandomOps(21, 400, 3, false), RandomOps(22, 110, 3, false)},
		{"big-txns", RandomOps(23, 600, 30, false), RandomOps(24, 150, 10, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.Path(tc.name + ".db")
			e.Batch(t, p, "twoskip", append([]Op{Begin(), Commit()}, tc.before...))
			e.MustRun(t, "cyr_dbtool", p, "twoskip", "repack")
			repacked, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rdb, err := NewReader(bytes.NewReader(repacked), int64(len(repacked)))
			if err != nil {
				t.Fatal(err)
			}
			repackEnd := int64(rdb.Header().RepackSize) // the repack's COMMIT
			var repackKeys []string
			rdb.Iterate(func(k, v []byte) error { repackKeys = append(repackKeys, string(k)); return nil })
			e.Batch(t, p, "twoskip", tc.after)
			full, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			ops := append(append([]Op{}, tc.before...), tc.after...)
			ever, final := Committed(ops)
			checkModel(t, e, p, final)
			if h := openT(t, p).Header(); h.Generation < 2 || int64(h.RepackSize) != repackEnd {
				t.Fatalf("Cyrus checkpointed again after the repack (header %+v): the fixture lost its repack", h)
			}
			recs, doubts, sv := salvageCut(t, full, nil)
			if len(doubts) != 0 || len(sv.Skipped) != 0 || len(recs) != len(final) {
				t.Fatalf("whole file: %d records, %d doubts, %v skipped; want %d, 0, none", len(recs), len(doubts), sv.Skipped, len(final))
			}
			c := &CutCheck{Ever: ever, Final: final}
			prev := 0
			for cut := int64(firstRecord); cut < int64(len(full)); cut += align {
				recs, doubts, _ := salvageCut(t, full[:cut], nil)
				c.Check(t, cut, recs, doubts)
				if cut <= repackEnd {
					// Inside the repack: a growing key-order prefix of
					// its records, all of them once the cut passes the
					// last record.
					if len(recs) < prev || len(recs) > len(repackKeys) {
						t.Fatalf("cut at %d inside the repack: %d records (previous cut %d, repack %d)", cut, len(recs), prev, len(repackKeys))
					}
					for i, r := range recs {
						if r.Key != repackKeys[i] {
							t.Fatalf("cut at %d inside the repack: record %d is %q, want the repack's %q", cut, i, r.Key, repackKeys[i])
						}
					}
					prev = len(recs)
				}
			}
			if prev != len(repackKeys) {
				t.Fatalf("cut just before the repack's COMMIT: %d records, want all %d of the repack", prev, len(repackKeys))
			}
			t.Logf("%d bytes (repack up to %d), %d cuts: %d records returned, %d stale or resurrected (all listed), %d listed as possibly stale", len(full), repackEnd, c.Cuts, c.Returned, c.Stale, c.Doubts)
			if c.Stale == 0 {
				t.Fatalf("no cut returned a stale or resurrected record: the fixture does not exercise the check")
			}
		})
	}
}

// A repack killed by a real crash: cyr_dbtool repack is run under strace,
// which kills it with SIGKILL before its n-th writev (the calls that
// append records to "<db>.NEW"), so the .NEW is left as Cyrus wrote it: a
// DIRTY header with nothing committed and the records copied so far. With
// Repack, Salvage returns exactly a key-order prefix of the database's
// records (complete ones only, CRC-checked), every one listed as possibly
// stale; without it, nothing; and the .NEW cut further at every 8-byte
// offset still gives only such a prefix.
func TestSalvageKilledRepack(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is needed to kill a real Cyrus repack mid-way: %v", err)
	}
	e := New(t)
	p := e.Path("big.db")
	var ops []Op
	ops = append(ops, Begin())
	for i := 0; i < 400; i++ {
		ops = append(ops, Set(fmt.Sprintf("user.u%04d", i), fmt.Sprintf("value %d %s", i, bytes.Repeat([]byte{'v'}, i%50))))
	}
	ops = append(ops, Commit())
	e.Batch(t, p, "twoskip", ops)
	_, final := Committed(ops)
	checkModel(t, e, p, final)
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	db := openT(t, p)
	db.Iterate(func(k, v []byte) error { keys = append(keys, string(k)); return nil })
	for _, n := range []int{2, 3, 10, 57, 200, 399} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if err := os.WriteFile(p, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			e.Own(t, p)
			os.Remove(p + ".NEW")
			args := []string{"-f", "-o", "/dev/null", "-e", "trace=writev", "-e", fmt.Sprintf("inject=writev:signal=KILL:when=%d", n),
				"runuser", "-u", "cyrus", "--", cyrustest.Tool(t, "cyr_dbtool"), "-C", e.Conf, p, "twoskip", "repack"}
			out, err := exec.Command(strace, args...).CombinedOutput()
			if err == nil {
				t.Fatalf("repack was not killed: %s", out)
			}
			newb, err := os.ReadFile(p + ".NEW")
			if err != nil {
				t.Fatalf("no .NEW after the killed repack: %v (%s)", err, out)
			}
			if h, err := readHeader(srcOf(newb)); err != nil || !h.Dirty() || h.CurrentSize != firstRecord {
				t.Fatalf("the .NEW header is not an unfinished repack's: %+v %v", h, err)
			}
			check := func(b []byte, o *SalvageOptions) int {
				recs, doubts, _ := salvageCut(t, b, o)
				for i, r := range recs {
					if i >= len(keys) || r.Key != keys[i] || r.Value != final[r.Key] {
						t.Fatalf(".NEW cut at %d: record %d is %q=%q, want the database's %d-th record", len(b), i, r.Key, r.Value, i)
					}
					if !doubts[r.Key] {
						t.Fatalf(".NEW cut at %d: %q not listed as possibly stale", len(b), r.Key)
					}
				}
				return len(recs)
			}
			got := check(newb, &SalvageOptions{Repack: true})
			// writev n is the (n-1)-th record's append (the first
			// writev writes the DUMMY), killed before it ran.
			if got != n-2 {
				t.Fatalf("killed before writev %d: salvaged %d records of the .NEW, want %d", n, got, n-2)
			}
			if recs, _, _ := salvageCut(t, newb, nil); len(recs) != 0 {
				t.Fatalf("without Repack: %d records of an uncommitted transaction returned", len(recs))
			}
			prev := 0
			for cut := int64(firstRecord); cut <= int64(len(newb)); cut += align {
				n := check(newb[:cut], &SalvageOptions{Repack: true})
				if n < prev {
					t.Fatalf(".NEW cut at %d: %d records, fewer than at a shorter cut (%d)", cut, n, prev)
				}
				prev = n
			}
			// dbfile takes a "*.NEW" file for a repack: the same via the path.
			t.Logf("killed before writev %d: .NEW of %d bytes, %d records salvaged, all listed as possibly stale", n, len(newb), got)
		})
	}
}

func srcOf(b []byte) *fileio.Src { return fileio.NewSrc(bytes.NewReader(b), int64(len(b))) }
