package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
)

// The kill -9 trials run mboxconv as a child process: this test binary,
// re-executed with MBOXCONV_TRIAL_CHILD set, runs the command line in it.
func TestTrialChild(t *testing.T) {
	args := os.Getenv("MBOXCONV_TRIAL_CHILD")
	if args == "" {
		return // not a child: nothing to do (the parent tests are below)
	}
	stdout, stderr, code := run(t, strings.Split(args, "\x1f")...)
	os.Stdout.WriteString(stdout)
	os.Stderr.WriteString(stderr)
	os.Exit(code)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// trialSource writes an n-mailbox 3.6 twoskip mailboxes.db (through a JSON
// dump and convert, whose twoskip output real Cyrus accepts: see
// TestConvert36AcceptedByCyrus).
func trialSource(t *testing.T, dir string, n int) string {
	t.Helper()
	js := filepath.Join(dir, "src.json")
	f, err := os.Create(js)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := mboxlist.NewJSONEncoder(w)
	sub := []string{"", ".Sent", ".Drafts", ".Trash", ".Archive"}
	for i := 0; i < n; i++ {
		u, k := i/len(sub), i%len(sub)
		user := fmt.Sprintf("user%07d", u)
		e := mboxlist.Entry{Name: "user." + user + sub[k], Type: 0, Partition: "default", Server: fmt.Sprintf("be%d", i%4),
			UniqueID: fmt.Sprintf("%08x-trial-4e00-8000-%012x", i, i), UIDValidity: uint32(1600000000 + i),
			CreatedModseq: 1, FolderModseq: uint64(1 + i%97), Mtime: int64(1700000000 + i),
			ACL: mboxlist.ACL{{ID: user, Rights: "lrswipkxtecdan"}}}
		if i%20 == 19 {
			e.Partition = "p2"
		}
		if err := enc.Add(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db := filepath.Join(dir, "mailboxes.db")
	if _, stderr, code := run(t, "convert", js, db, "--to", "twoskip"); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	os.Remove(js)
	return db
}

// child runs one mboxconv command line in a child process. kill > 0 sends
// SIGKILL after that long; it returns the exit status (-1 when killed),
// stderr and the time taken.
func child(t *testing.T, kill time.Duration, args ...string) (int, string, time.Duration) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^TestTrialChild$")
	cmd.Env = append(os.Environ(), "MBOXCONV_TRIAL_CHILD="+strings.Join(args, "\x1f"))
	var errb strings.Builder
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if kill > 0 {
		timer := time.AfterFunc(kill, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err = cmd.Wait()
	took := time.Since(start)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, errb.String(), took
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), errb.String(), took
}

// TestImportExportKillTrials: kill -9 at a random moment of a 200,000-entry
// import into leveldb (bulk and batches in turn; and of an export from it
// to twoskip), then run the
// same command again: it resumes and the result verifies equal to the
// source. MURDERKIT_KILL_TRIALS sets the number of trials of each (default
// 3), MURDERKIT_TRIAL_ENTRIES the size (default 20,000, so that CI stays
// short); `make trials` runs 50 trials of 200,000 entries.
func TestImportExportKillTrials(t *testing.T) {
	trials := envInt("MURDERKIT_KILL_TRIALS", 3)
	n := envInt("MURDERKIT_TRIAL_ENTRIES", 20000)
	dir := t.TempDir()
	src := trialSource(t, dir, n)
	deadline := time.Now().Add(3 * time.Hour)

	// An uninterrupted run measures how long a run takes.
	refReg := "leveldb://" + filepath.Join(dir, "ref")
	code, stderr, full := child(t, 0, "import", src, "--registry", refReg, "--checkpoint", filepath.Join(dir, "ref.cp"), "-q")
	if code != 0 {
		t.Fatalf("uninterrupted import: exit %d\n%s", code, stderr)
	}
	batchReg := "leveldb://" + filepath.Join(dir, "ref-batches")
	code, stderr, fullBatches := child(t, 0, "import", src, "--registry", batchReg, "--checkpoint", filepath.Join(dir, "refb.cp"), "-q", "--batch", "1000", "--bulk", "off")
	if code != 0 {
		t.Fatalf("uninterrupted import in batches: exit %d\n%s", code, stderr)
	}
	t.Logf("%d entries: an uninterrupted import takes %v (bulk), %v (batches)", n, full, fullBatches)
	resumedSome := 0
	for i := 0; i < trials && time.Now().Before(deadline); i++ {
		reg := "leveldb://" + filepath.Join(dir, fmt.Sprintf("reg%d", i))
		cp := filepath.Join(dir, fmt.Sprintf("cp%d.json", i))
		at := time.Duration(rand.Int64N(int64(full)))
		if i%2 == 1 {
			at = time.Duration(rand.Int64N(int64(fullBatches)))
		}
		// Even trials fill the empty registry in one bulk step (all or
		// nothing), odd ones in checkpointed batches.
		args := []string{"import", src, "--registry", reg, "--checkpoint", cp, "-q", "--batch", "1000"}
		if i%2 == 1 {
			args = append(args, "--bulk", "off")
		}
		code, stderr, _ := child(t, at, args...)
		if code != -1 && code != 0 {
			t.Fatalf("trial %d: killed run: exit %d\n%s", i, code, stderr)
		}
		if b, err := os.ReadFile(cp); err == nil && strings.Contains(string(b), `"done":`) && !strings.Contains(string(b), `"done":0`) {
			resumedSome++
		}
		code, stderr, _ = child(t, 0, args...)
		if code != 0 {
			t.Fatalf("trial %d (killed after %v): resumed run: exit %d\n%s", i, at, code, stderr)
		}
		if out, _, code := run(t, "verify", src, reg); code != 0 {
			t.Fatalf("trial %d (killed after %v): registry differs from the source:\n%.2000s", i, at, out)
		}
		if out, _, code := run(t, "verify", refReg, reg); code != 0 {
			t.Fatalf("trial %d: registry differs from the uninterrupted run's:\n%.2000s", i, out)
		}
		os.RemoveAll(strings.TrimPrefix(reg, "leveldb://"))
	}
	t.Logf("%d import trials, %d resumed from a checkpoint", trials, resumedSome)

	// Export trials from the reference registry.
	dst := filepath.Join(dir, "out", "mailboxes.db")
	os.MkdirAll(filepath.Dir(dst), 0o700)
	code, stderr, full = child(t, 0, "export", "--registry", refReg, dst, "--to", "twoskip", "-q")
	if code != 0 {
		t.Fatalf("uninterrupted export: exit %d\n%s", code, stderr)
	}
	for i := 0; i < trials && time.Now().Before(deadline); i++ {
		os.Remove(dst)
		at := time.Duration(rand.Int64N(int64(full)))
		args := []string{"export", "--registry", refReg, dst, "--to", "twoskip", "-q"}
		code, stderr, _ := child(t, at, args...)
		if code != -1 && code != 0 {
			t.Fatalf("export trial %d: killed run: exit %d\n%s", i, code, stderr)
		}
		if code == -1 {
			// Killed: DST is absent or whole, never torn.
			if _, err := os.Stat(dst); err == nil {
				if out, _, code := run(t, "verify", src, dst); code != 0 {
					t.Fatalf("export trial %d: a killed export left a DST that differs:\n%.2000s", i, out)
				}
			}
		}
		code, stderr, _ = child(t, 0, args...)
		if code != 0 {
			t.Fatalf("export trial %d (killed after %v): rerun: exit %d\n%s", i, at, code, stderr)
		}
		if out, _, code := run(t, "verify", src, dst); code != 0 {
			t.Fatalf("export trial %d: export differs from the source:\n%.2000s", i, out)
		}
		if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".*tmp*")); len(tmps) != 0 {
			t.Fatalf("export trial %d: temporary files left: %v", i, tmps)
		}
	}
}
