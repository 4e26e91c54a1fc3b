package main

import (
	"encoding/json"
	"os"
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

func TestInspect(t *testing.T) {
	out, stderr, code := run(t, "inspect", filepath.Join(fixtures, "sample.twoskip.db"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"format:     twoskip", "num_records 45", "values:     Cyrus 3.6", "mailboxes:  18",
		"racl 11", "by-id 15", "remote 4", "reserved 2", "backend2 4", "(local) 14", "p2 2", "example.com 2",
		"calendar 1", "no uniqueid:  3", "crash tail: none", "damage:     none",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect sample: %q missing in\n%s", want, out)
		}
	}
	out, _, code = run(t, "inspect", filepath.Join(fixtures, "crash.skiplist.db"))
	if code != 0 || !strings.Contains(out, "crash tail: uncommitted tail at offset ") || !strings.Contains(out, "damage:     none") {
		t.Errorf("inspect crash.skiplist.db: exit %d\n%s", code, out)
	}
	for name, want := range map[string]string{"v2x.skiplist.db": "Cyrus 2.4", "v25.twoskip.db": "Cyrus 2.5", "v34.twoskip.db": "Cyrus 3.4"} {
		out, _, code := run(t, "inspect", filepath.Join(fixtures, name))
		if code != 0 || !strings.Contains(out, "values:     "+want) {
			t.Errorf("inspect %s: exit %d, want %q\n%s", name, code, want, out)
		}
	}
	out, _, code = run(t, "inspect", filepath.Join(fixtures, "sample.twoskip.db.json"))
	if code != 0 || !strings.Contains(out, "format:     json") || !strings.Contains(out, "mailboxes:  18") {
		t.Errorf("inspect of a JSON dump: exit %d\n%s", code, out)
	}
}

func TestImport(t *testing.T) {
	reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
	src := filepath.Join(fixtures, "sample.twoskip.db")
	out, stderr, code := run(t, "import", src, "--registry", reg)
	if code != 0 || !strings.Contains(out, "imported 18 mailboxes") || !strings.Contains(out, "18 created") {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	// A re-run is a no-op.
	out, stderr, code = run(t, "import", src, "--registry", reg)
	if code != 0 || !strings.Contains(out, "0 created, 0 updated, 18 unchanged") {
		t.Fatalf("second import: exit %d\n%s%s", code, out, stderr)
	}
	// --server fills in the server of local entries only.
	out, stderr, code = run(t, "import", filepath.Join(fixtures, "v25.twoskip.db"), "--registry", reg, "--server", "backend9", "--batch", "3")
	if code != 0 || !strings.Contains(out, "imported 8 mailboxes") {
		t.Fatalf("import --server: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := run(t, "import", src); code != exitcode.Usage {
		t.Errorf("import without --registry: exit %d, want 2", code)
	}
	if _, _, code := run(t, "import", src, "--registry", "nosuch://x"); code != exitcode.Registry {
		t.Errorf("import to an unknown registry scheme: exit %d, want 5", code)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimPrefix(reg, "leveldb://"))); err != nil {
		t.Error(err)
	}
}
