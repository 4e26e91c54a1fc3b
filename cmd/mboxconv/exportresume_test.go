package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/mboxfile"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

func exportSummary(t *testing.T, args ...string) (convert.Summary, int) {
	t.Helper()
	out, stderr, code := run(t, append(args, "--summary", "json")...)
	var s convert.Summary
	if code == 0 {
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%v: summary %q: %v\n%s", args, out, err, stderr)
		}
	}
	return s, code
}

// An export stopped after its spool was sealed (everything listed) goes on
// from the spool when run again: it does not list the registry again, and
// writes the same bytes as an uninterrupted export. A registry that changed
// in between makes the rerun start over.
func TestExportResumesFromSealedSpool(t *testing.T) {
	dir := t.TempDir()
	src := trialSource(t, dir, 3000)
	regDir := filepath.Join(dir, "reg")
	reg := "leveldb://" + regDir
	if _, stderr, code := run(t, "import", src, "--registry", reg, "-q"); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	ref := filepath.Join(dir, "ref.db")
	if s, code := exportSummary(t, "export", "--registry", reg, ref, "--to", "twoskip"); code != 0 || !s.Verified || s.Resumed != 0 {
		t.Fatalf("uninterrupted export: exit %d, %+v", code, s)
	}
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(dir, "out", "mailboxes.db")
	os.MkdirAll(filepath.Dir(dst), 0o700)
	stop := func() {
		t.Helper()
		exportSealedHook = func() error { return errors.New("stopped after sealing (test)") }
		defer func() { exportSealedHook = nil }()
		if _, _, code := run(t, "export", "--registry", reg, dst, "--to", "twoskip"); code == 0 {
			t.Fatal("the stopped export succeeded")
		}
		if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".mailboxes.db.tmp-spool-*", mboxfile.SealedFile)); len(m) != 1 {
			t.Fatalf("no sealed spool after the stop: %v", m)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Fatal("DST written before the merge")
		}
	}
	stop()
	s, code := exportSummary(t, "export", "--registry", reg, dst, "--to", "twoskip")
	if code != 0 || !s.Verified || s.Resumed != 3000 || s.Selected != 3000 {
		t.Fatalf("rerun after the stop: exit %d, %+v; want verified, 3000 resumed", code, s)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the resumed export's bytes differ from the uninterrupted one's")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".mailboxes.db.tmp*")); len(m) != 0 {
		t.Fatalf("temporary files left after a verified export: %v", m)
	}

	// The registry changes after the seal: the rerun lists again.
	os.Remove(dst)
	stop()
	st, err := leveldb.Open(context.Background(), regDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := registry.Entry{}
	e.Name, e.Server, e.Partition = "user.latecomer", "be1", "default"
	if _, err := st.Create(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	st.Close()
	s, code = exportSummary(t, "export", "--registry", reg, dst, "--to", "twoskip")
	if code != 0 || !s.Verified || s.Resumed != 0 || s.Selected != 3001 {
		t.Fatalf("rerun after the registry changed: exit %d, %+v; want a fresh, verified export of 3001", code, s)
	}
}
