package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// --progress json prints JSON lines on stderr ending with a final one;
// --dry-run writes nothing; --quiet prints nothing; filters select.
func TestImportProgressDryRunFilters(t *testing.T) {
	reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
	src := filepath.Join(fixtures, "sample.twoskip.db")
	cp := filepath.Join(t.TempDir(), "cp")

	out, stderr, code := run(t, "import", src, "--registry", reg, "--dry-run", "--progress", "json", "--checkpoint", cp)
	if code != 0 || !strings.Contains(out, "dry run: would create 18, update 0; 0 unchanged") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var last convert.ProgressLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || !last.Final || last.Done != 18 || last.Total != 18 {
		t.Fatalf("last progress line %q: %+v %v", lines[len(lines)-1], last, err)
	}
	for _, l := range lines {
		var p convert.ProgressLine
		if err := json.Unmarshal([]byte(l), &p); err != nil || p.Phase != "import" {
			t.Errorf("progress line %q: %v", l, err)
		}
	}
	// Nothing was written: a real import creates all 18.
	out, stderr, code = run(t, "import", src, "--registry", reg, "--quiet", "--checkpoint", cp, "--only-server", "backend2")
	if code != 0 || out != "" || stderr != "" {
		t.Fatalf("--quiet: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	out, stderr, code = run(t, "import", src, "--registry", reg, "--summary", "json", "--checkpoint", cp)
	var s convert.Summary
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil {
		t.Fatalf("summary json: exit %d %v\n%s%s", code, err, out, stderr)
	}
	// The filtered import above stored some; this one stores the rest.
	if s.Read != 18 || s.Created+s.Unchanged != 18 || s.Created == 0 || s.Unchanged == 0 || !s.Verified || len(s.Slots) == 0 {
		t.Errorf("summary after a filtered import: %+v", s)
	}
	if _, _, code := run(t, "import", src, "--registry", reg, "--progress", "fancy"); code != 2 {
		t.Errorf("--progress fancy: exit %d, want 2", code)
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

// TestImportDamagedSourceExit: damage that the import meets while it reads
// a file (past the version check at its start) is exit status 3, an input
// error naming the file, whether the import goes in batches or in bulk —
// also when the file's path has "registry" in it, which must not make it
// a registry error.
func TestImportDamagedSourceExit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtures, "sample.twoskip.db"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "registry-copy")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "mailboxes.db")
	b[len(b)*3/4] ^= 0x55
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bulk := range []string{"auto", "off"} {
		reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
		out, stderr, code := run(t, "import", bad, "--registry", reg, "--bulk", bulk, "--quiet", "--checkpoint", filepath.Join(t.TempDir(), "cp"))
		if code != exitcode.Input || out != "" || !strings.Contains(stderr, bad+": ") {
			t.Errorf("--bulk %s: exit %d, stdout %q, stderr %q; want exit 3 naming %s", bulk, code, out, stderr, bad)
		}
	}
}
