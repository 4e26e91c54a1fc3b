package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/exitcode"
)

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// A mistyped leveldb path: every read-only command refuses it (exit 5,
// "no leveldb registry at ...") and creates nothing there — no empty
// registry, no directory.
func TestReadOnlyCommandsRefuseMissingRegistry(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(fixtures, "sample.twoskip.db")
	typo := filepath.Join(dir, "murder-brdge", "registy")
	url := "leveldb://" + typo
	dst := filepath.Join(dir, "out.db")
	for _, args := range [][]string{
		{"verify", src, url},
		{"verify", url, src},
		{"export", "--registry", url, dst, "--to", "twoskip"},
		{"export", "--registry", url, dst, "--to", "json"},
		{"import", url, "--registry", "leveldb://" + filepath.Join(dir, "new")},
	} {
		out, stderr, code := run(t, args...)
		if code != exitcode.Registry || !strings.Contains(stderr, "no leveldb registry at "+typo) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 5 naming the path", args, code, out, stderr)
		}
		for _, p := range []string{filepath.Join(dir, "murder-brdge"), dst, filepath.Join(dir, "new")} {
			if exists(p) {
				t.Errorf("%v created %s", args, p)
				os.RemoveAll(p)
			}
		}
	}
	// dump and inspect take files: a registry URL is no file, and nothing
	// is made at its path either
	for _, args := range [][]string{{"dump", url}, {"dump", "--raw", url}, {"inspect", url}} {
		if _, _, code := run(t, args...); code != exitcode.Input {
			t.Errorf("%v: exit %d, want 3", args, code)
		}
	}
	// an existing directory that holds no registry is refused too
	os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
	if _, stderr, code := run(t, "verify", src, "leveldb://"+filepath.Join(dir, "empty")); code != exitcode.Registry || !strings.Contains(stderr, "no CURRENT file") {
		t.Errorf("verify against an empty directory: exit %d, %s", code, stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "empty")); len(ents) != 0 {
		t.Errorf("the empty directory got %d files (leveldb's LOCK, LOG?)", len(ents))
	}
	if exists(filepath.Join(dir, "murder-brdge")) {
		t.Error("a read-only command created the mistyped path")
	}
}

// An import into a path that did not exist removes what it created when it
// fails before storing anything (bulk or batches) and after a dry run; an
// import that stored batches before failing keeps them (the same command
// resumes).
func TestImportFailureLeavesNoEmptyRegistry(t *testing.T) {
	dir := t.TempDir()
	bad := damagedLate(t, "sample.twoskip.db")
	top := filepath.Join(dir, "a")
	url := "leveldb://" + filepath.Join(top, "b", "registry")
	cp := filepath.Join(dir, "cp")
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"import", filepath.Join(dir, "no-such-file"), "--registry", url}, exitcode.Input},
		{[]string{"import", bad, "--registry", url, "--checkpoint", cp}, exitcode.Input},                                     // bulk
		{[]string{"import", bad, "--registry", url, "--checkpoint", cp, "--bulk", "off", "--batch", "1000"}, exitcode.Input}, // first batch
		{[]string{"import", filepath.Join(fixtures, "sample.twoskip.db"), "--registry", url, "--dry-run"}, 0},
		{[]string{"import", filepath.Join(fixtures, "sample.twoskip.db"), "--registry", url, "--slot", "nosuch"}, exitcode.Usage},
	} {
		out, stderr, code := run(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, out, stderr)
		}
		if exists(top) {
			t.Errorf("%v left %s behind (exit %d)\n%s", c.args, top, code, stderr)
			os.RemoveAll(top)
		}
	}
	// batches stored before the damage: the registry stays, resumable
	_, stderr, code := run(t, "import", bad, "--registry", url, "--checkpoint", cp, "--bulk", "off", "--batch", "2")
	if code != exitcode.Input || !exists(filepath.Join(top, "b", "registry", "CURRENT")) || !strings.Contains(stderr, "resumes") {
		t.Fatalf("failed import after some batches: exit %d, registry kept %v\n%s", code, exists(top), stderr)
	}
	// an import into a new path that succeeds keeps its registry
	url2 := "leveldb://" + filepath.Join(dir, "c", "registry")
	if _, stderr, code := run(t, "import", filepath.Join(fixtures, "sample.twoskip.db"), "--registry", url2); code != 0 || !exists(filepath.Join(dir, "c", "registry", "CURRENT")) {
		t.Fatalf("import into a new path: exit %d\n%s", code, stderr)
	}
}
