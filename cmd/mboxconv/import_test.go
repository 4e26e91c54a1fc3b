package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/convert"
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
