package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/exitcode"
)

func TestVerify(t *testing.T) {
	ts, sk := filepath.Join(fixtures, "sample.twoskip.db"), filepath.Join(fixtures, "sample.skiplist.db")
	js, ty := filepath.Join(fixtures, "sample.twoskip.db.json"), filepath.Join(fixtures, "types.twoskip.db")
	// The same mailboxes in three formats, made by Cyrus.
	for _, pair := range [][2]string{{ts, sk}, {ts, js}, {js, sk}} {
		out, stderr, code := run(t, "verify", pair[0], pair[1])
		if code != 0 || !strings.Contains(out, "equal: 18 mailboxes") {
			t.Errorf("verify %s %s: exit %d\n%s%s", pair[0], pair[1], code, out, stderr)
		}
	}
	// Different: exit 1 and a readable diff.
	out, _, code := run(t, "verify", ts, ty)
	if code != exitcode.Difference || !strings.Contains(out, "only in "+ts+": user.alice") || !strings.Contains(out, "different:") {
		t.Errorf("verify of different files: exit %d\n%s", code, out)
	}
	// One changed field: the diff names it.
	crash, logf := filepath.Join(fixtures, "crash.twoskip.db"), filepath.Join(fixtures, "logform.skiplist.db")
	if out, _, code := run(t, "verify", crash, logf); code != 0 {
		t.Errorf("crash tail vs its committed state: exit %d\n%s", code, out)
	}
	v25 := filepath.Join(fixtures, "v25.twoskip.db")
	conv := filepath.Join(t.TempDir(), "v25-36.db")
	if _, stderr, code := run(t, "convert", v25, conv, "--to", "twoskip"); code != 0 {
		t.Fatal(stderr)
	}
	out, _, code = run(t, "verify", v25, conv)
	if code != 0 {
		// verify reads a pre-3.6 file in the 3.6 model: its mailboxes'
		// files are laid out by name, the LEGACY_DIRS flag the conversion
		// wrote, so the conversion is equal
		t.Errorf("verify 2.5 vs its 3.6 conversion: exit %d, want 0\n%s", code, out)
	}
	out, _, code = run(t, "verify", "--json", ts, ty)
	var res verifyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.Equal || len(res.Only1) != 18 {
		t.Errorf("verify --json: exit %d, %v, %+v", code, err, res)
	}
}
