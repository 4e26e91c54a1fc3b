package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// bigCrashTail makes, with real Cyrus, a skiplist whose uncommitted tail
// is most of the file: one committed record, then a `cyr_dbtool batch`
// transaction of many SETs (each appended to the log at once) killed with
// SIGKILL before its COMMIT.
func bigCrashTail(t *testing.T) (path string, tailRecords int) {
	t.Helper()
	c := cyrustest.NewConfig(t)
	c.MustRun(t, "ctl_cyrusdb", "-r")
	// an old recovery stamp: opening the file does not recover it
	stamp := filepath.Join(c.ConfigDir, "db", "skipstamp")
	if err := os.WriteFile(stamp, []byte{0, 0, 0, 1}, 0o644); err != nil {
		t.Fatal(err)
	}
	cyrustest.Chown(stamp)
	db := filepath.Join(c.ConfigDir, "big.db")
	c.MustRun(t, "cyr_dbtool", "-n", db, "skiplist", "set", "Nuser\x1fkept", "%(T e I kept-1 P default V 1 C 1 F 1 M 1795300000 A %(kept lrswipkxtecdan))")

	const n = 200
	cmd := cyrustest.AsCyrus(cyrustest.Tool(t, "cyr_dbtool"), "-C", c.Conf, db, "skiplist", "batch")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(in, "BEGIN\n")
	for i := range n {
		fmt.Fprintf(in, "SET \"Nuser\x1flost%03d\" \"%%(T e I lost-%03d P default V 1 C 1 F 1 M 1795300000 A %%(lost%03d lrswipkxtecdan))\"\n", i, i, i)
	}
	// wait until every SET is in the file, then kill before COMMIT
	var last int64 = -1
	for deadline := time.Now().Add(20 * time.Second); ; {
		st, err := os.Stat(db)
		if err == nil && st.Size() == last && st.Size() > 100*n {
			break
		}
		if err == nil {
			last = st.Size()
		}
		if time.Now().After(deadline) {
			t.Fatalf("cyr_dbtool batch never wrote its SETs (size %d): %s", last, errb.String())
		}
		// polled at this pace on purpose (not internal/eventually): the
		// writes are done when the size holds still for 300 ms
		time.Sleep(300 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	in.Close()
	out := filepath.Join(t.TempDir(), "big.skiplist.db")
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out, n
}

// A skiplist whose "uncommitted tail" is most of the file is not called a
// harmless crash tail: every reader refuses it (exit 3) and says how much
// the committed state leaves out, unless --allow-crash-tail, which reads
// the committed state (what Cyrus's recovery keeps). A small crash tail
// (testdata/crash.skiplist.db) stays a note.
func TestLargeCrashTailRefused(t *testing.T) {
	path, n := bigCrashTail(t)
	st, _ := os.Stat(path)
	for _, args := range [][]string{
		{"dump", path},
		{"dump", "--raw", path},
		{"inspect", path},
		{"convert", path, filepath.Join(t.TempDir(), "out.json"), "--to", "json"},
		{"import", path, "--registry", "leveldb://" + filepath.Join(t.TempDir(), "reg"), "--checkpoint", filepath.Join(t.TempDir(), "cp")},
		{"verify", path, filepath.Join(fixtures, "sample.skiplist.db")},
	} {
		out, stderr, code := run(t, args...)
		if code != exitcode.Input {
			t.Errorf("%s: exit %d, want %d\n%s%s", strings.Join(args[:1], " "), code, exitcode.Input, out, stderr)
			continue
		}
		for _, w := range []string{"most of the file", fmt.Sprintf("of the file's %d bytes", st.Size()), fmt.Sprintf("%d record(s) of a transaction without COMMIT", n), "--allow-crash-tail"} {
			if !strings.Contains(out+stderr, w) {
				t.Errorf("%s: does not say %q:\n%s%s", args[0], w, out, stderr)
			}
		}
		if args[0] == "dump" && out != "" {
			t.Errorf("dump printed %d bytes before failing", len(out))
		}
	}
	out, stderr, code := run(t, "dump", "--allow-crash-tail", path)
	if code != 0 || !strings.Contains(out, `"user.kept"`) || strings.Contains(out, "lost") {
		t.Errorf("dump --allow-crash-tail: exit %d, want the committed entry only:\n%s%s", code, out, stderr)
	}
	if out, stderr, code := run(t, "inspect", "--allow-crash-tail", path); code != 0 || !strings.Contains(out, "most of the file") {
		t.Errorf("inspect --allow-crash-tail: exit %d\n%s%s", code, out, stderr)
	}
	// a small tail: a note, exit 0
	if out, stderr, code := run(t, "inspect", filepath.Join(fixtures, "crash.skiplist.db")); code != 0 || !strings.Contains(out, "not damage") {
		t.Errorf("inspect of a small crash tail: exit %d\n%s%s", code, out, stderr)
	}
}

// What --allow-crash-tail reads is what real Cyrus keeps: its recovery of
// a copy drops the whole uncommitted transaction.
func TestLargeCrashTailCommittedStateIsCyrus(t *testing.T) {
	path, _ := bigCrashTail(t)
	c := cyrustest.NewConfig(t)
	c.MustRun(t, "ctl_cyrusdb", "-r")
	// a recovery stamp newer than the file's last recovery (which may be
	// the same second as ctl_cyrusdb -r): opening the copy recovers it
	stamp := filepath.Join(c.ConfigDir, "db", "skipstamp")
	future := uint32(time.Now().Unix() + 3600)
	if err := os.WriteFile(stamp, []byte{byte(future >> 24), byte(future >> 16), byte(future >> 8), byte(future)}, 0o644); err != nil {
		t.Fatal(err)
	}
	cyrustest.Chown(stamp)
	cp := filepath.Join(c.ConfigDir, "copy.db")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cyrustest.Chown(cp)
	show := c.MustRun(t, "cyr_dbtool", cp, "skiplist", "show")
	out, stderr, code := run(t, "dump", "--raw", "--allow-crash-tail", path)
	if code != 0 {
		t.Fatalf("dump --raw --allow-crash-tail: exit %d\n%s", code, stderr)
	}
	if out != string(show) {
		t.Errorf("committed state: ours\n%q\nCyrus's after recovery\n%q", out, show)
	}
	t.Logf("Cyrus keeps %d line(s); the file is %d bytes", bytes.Count(show, []byte("\n")), len(b))
}
