package skiplist

import (
	"os"
	"testing"

	. "github.com/murderkit/murderkit/cyrusdb/cyrusdbtest"
)

// salvageCut salvages b and returns the records and the doubted keys.
func salvageCut(t *testing.T, b []byte) ([]Pair, map[string]bool, int) {
	t.Helper()
	recs, doubts, sv := SalvageCut(t, b, Salvage)
	return recs, doubts, len(sv.Skipped)
}

// A skiplist Cyrus wrote (transactions that add, replace and delete keys,
// with Cyrus's own checkpoints in between) cut at every 4-byte offset: a
// cut loses the transactions after it, whose deletes and replaces Cyrus had
// already stitched into the pointers of earlier records. Salvage returns
// only pairs Cyrus committed at some point, and lists every returned record
// that is not the whole file's value as possibly stale or resurrected.
func TestSalvageCutCyrusFile(t *testing.T) {
	e := New(t)
	for _, tc := range []struct {
		name string
		ops  []Op
	}{
		{"small-txns", RandomOps(11, 500, 3, false)},
		{"big-txns", RandomOps(12, 800, 30, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e.Path(tc.name + ".db")
			ops := tc.ops
			e.Batch(t, p, "skiplist", ops)
			full, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			ever, final := Committed(ops)
			if got := ParseShow(t, e.Show(t, p, "skiplist")); len(got) != len(final) {
				t.Fatalf("model of the ops: %d keys, cyr_dbtool shows %d", len(final), len(got))
			}
			for k, v := range ParseShow(t, e.Show(t, p, "skiplist")) {
				if final[k] != v {
					t.Fatalf("model of the ops: %q=%q, cyr_dbtool shows %q", k, final[k], v)
				}
			}
			recs, doubts, skipped := salvageCut(t, full)
			if len(doubts) != 0 || skipped != 0 || len(recs) != len(final) {
				t.Fatalf("whole file: %d records, %d doubts, %d skipped; want %d, 0, 0", len(recs), len(doubts), skipped, len(final))
			}
			c := &CutCheck{Ever: ever, Final: final}
			for cut := int64(firstRecord); cut < int64(len(full)); cut += 4 {
				recs, doubts, _ := salvageCut(t, full[:cut])
				c.Check(t, cut, recs, doubts)
			}
			t.Logf("%d bytes, %d cuts: %d records returned, %d stale or resurrected (all listed), %d listed as possibly stale", len(full), c.Cuts, c.Returned, c.Stale, c.Doubts)
			if c.Stale == 0 {
				t.Fatalf("no cut returned a stale or resurrected record: the fixture does not exercise the check")
			}
		})
	}
}
