package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/internal/cyrustest"
)

// TestImportLiveFileRepackedByCyrus imports a 3.6 mailboxes.db while real
// Cyrus checkpoints it (`cyr_dbtool DB twoskip repack`: a new file renamed
// over the old one, what Cyrus does at a checkpoint). Cyrus is never
// blocked (the import takes no lock), the import notices that the file was
// replaced under it and reads the new one, and the registry ends equal to
// the file. The moment of the replacement is not under the test's control,
// so it tries a few delays until one replacement lands inside the read;
// every try must end verified and equal.
func TestImportLiveFileRepackedByCyrus(t *testing.T) {
	c := cyrustest.NewConfig(t)
	dir := t.TempDir()
	src := trialSource(t, dir, 150000)
	db := c.MailboxesDB()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	reset := func() {
		t.Helper()
		if err := os.WriteFile(db, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cyrustest.Chown(filepath.Dir(db)); err != nil {
			t.Fatal(err)
		}
	}
	// Cyrus's repack of this file takes seconds, the import's read about
	// one: start the repack, then the import shortly before the repack's
	// rename is due.
	reset()
	t0 := time.Now()
	c.MustRun(t, "cyr_dbtool", db, "twoskip", "repack")
	full := time.Since(t0)
	replaced := false
	for try, lead := range []time.Duration{800 * time.Millisecond, 400 * time.Millisecond, 1200 * time.Millisecond, 200 * time.Millisecond, 1600 * time.Millisecond, 600 * time.Millisecond,
		// under load the child starts late: earlier starts
		2400 * time.Millisecond, 3200 * time.Millisecond, 4000 * time.Millisecond} {
		reset()
		reg := "leveldb://" + filepath.Join(dir, "reg"+string(rune('a'+try)))
		args := []string{"import", db, "--registry", reg, "--checkpoint", filepath.Join(dir, "cp"), "--progress", "none", "--summary", "json"}
		if try%2 == 1 {
			args = append(args, "--bulk", "off", "--batch", "5000")
		}
		repack := cyrustest.AsCyrus(cyrustest.Tool(t, "cyr_dbtool"), "-C", c.Conf, db, "twoskip", "repack")
		var rerr bytes.Buffer
		repack.Stderr = &rerr
		t0 := time.Now()
		if err := repack.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(max(0, full-lead)) // the import's start is placed in the repack's run: the thing tested
		cmd := exec.Command(exe, "-test.run", "^TestTrialChild$")
		cmd.Env = append(os.Environ(), "MBOXCONV_TRIAL_CHILD="+strings.Join(args, "\x1f"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		started := time.Since(t0)
		if err := repack.Wait(); err != nil {
			t.Fatalf("try %d: cyr_dbtool repack during the import: %v\n%s", try, err, rerr.String())
		}
		repacked := time.Since(t0)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("try %d: import: %v\n%s", try, err, errb.String())
		}
		// The child's stdout also holds the test framework's "PASS" line.
		js := out.String()
		if i := strings.IndexByte(js, '{'); i >= 0 {
			js = js[i:]
		}
		if i := strings.LastIndexByte(js, '}'); i >= 0 {
			js = js[:i+1]
		}
		var s convert.Summary
		if err := json.Unmarshal([]byte(js), &s); err != nil {
			t.Fatalf("try %d: summary %q: %v", try, out.String(), err)
		}
		if !s.Verified || s.Selected != 150000 {
			t.Fatalf("try %d: %+v", try, s)
		}
		if outv, _, code := run(t, "verify", db, reg); code != 0 {
			t.Fatalf("try %d: registry differs from the repacked file:\n%.2000s", try, outv)
		}
		t.Logf("try %d (import started %v after the repack, which ended at %v; bulk %v): %d read(s) of the file, verified equal", try, started.Round(time.Millisecond), repacked.Round(time.Millisecond), s.Bulk, s.Attempts)
		if s.Attempts >= 2 {
			replaced = true
			if try >= 1 {
				break
			}
		}
	}
	if !replaced {
		t.Fatal("no repack landed inside an import's read: the test did not see the retry (timings above)")
	}
}
