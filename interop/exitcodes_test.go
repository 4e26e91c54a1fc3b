package interop

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mboxlist"
)

// TestExitCodesOfThePrograms runs the built programs as an operator does and
// checks the documented exit statuses of the new classes, the same in both:
// a refused token is 8 (was 2), a refusal by the slot's state 10 (was 2), a
// slot defined twice 10 (was 5), SIGINT during shadow and during an import
// 130 (were 6 and 9). Both programs' --help document every code.
func TestExitCodesOfThePrograms(t *testing.T) {
	mb, mc := murderBridgeBinary(t), mboxconvBinary(t)
	for _, bin := range []string{mb, mc} {
		out, _ := exec.Command(bin, "--help").CombinedOutput()
		for _, want := range []string{"  8  authentication failed", " 10  refused", "130  interrupted"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s --help lacks %q", filepath.Base(bin), want)
			}
		}
	}

	dir := t.TempDir()
	cf := filepath.Join(dir, "credentials")
	os.WriteFile(cf, []byte("murder:murderpw\n"), 0o600)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("right\n"), 0o600)
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("wrong\n"), 0o600)
	httpA := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	p := startServe(t, "--registry", "leveldb://"+filepath.Join(dir, "registry"), "--listen", fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t)),
		"--credentials", cf, "--http", httpA, "--http-token-file", token)
	if err := murdertest.Eventually(20*time.Second, func() error {
		_, err := runOK(mb, "slot", "list", "--bridge", "http://"+httpA, "--token-file", token)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	slot := func(args ...string) (int, string) {
		return runBin(t, time.Minute, mb, append(append([]string{"slot"}, args...), "--bridge", "http://"+httpA)...)
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"define", "s1", "--location", "be1", "--token-file", wrong}, exitcode.Auth, "401"},
		{[]string{"define", "s1", "--location", "be1", "--state", "mirrored", "--token-file", token}, 0, "slot s1 defined"},
		{[]string{"define", "s1", "--location", "be1", "--token-file", token}, exitcode.Refused, "already exists"},
		{[]string{"cutover", "s1", "--token-file", token}, exitcode.Refused, "was not clean"},
		{[]string{"rollback", "s1", "--to", "shadow-clean", "--token-file", token}, exitcode.Refused, "refusing to roll"},
		{[]string{"delete", "s1", "--token-file", wrong}, exitcode.Auth, "401"},
	} {
		code, out := slot(c.args...)
		if code != c.code || !strings.Contains(out, c.says) {
			t.Errorf("slot %v: exit %d, want %d saying %q\n%s", c.args, code, c.code, c.says, out)
		}
	}
	if c := p.term(t); c != 0 {
		t.Errorf("serve after SIGTERM: exit %d", c)
	}

	// shadow against a side that never answers, interrupted
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("alice:a\nbob:b\ncarol:c\n"), 0o600)
	dump := filepath.Join(dir, "dump.json")
	os.WriteFile(dump, []byte("{}"), 0o600)
	dead := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	code, out := interrupted(t, time.Second, mb, "shadow", "--old", "imap://"+dead, "--dump", dump, "--users", users,
		"--retries", "1000", "--progress", "none")
	if code != exitcode.Interrupted || !strings.Contains(out, "interrupted after") {
		t.Errorf("shadow interrupted by SIGINT: exit %d, want %d\n%s", code, exitcode.Interrupted, out)
	}

	// mboxconv import interrupted (checkpointed batches: resumable)
	src := bigSource(t, dir, 60000)
	reg := "leveldb://" + filepath.Join(dir, "imported")
	args := []string{"import", src, "--registry", reg, "--checkpoint", filepath.Join(dir, "cp.json"), "--bulk", "off", "--batch", "500", "--progress", "none"}
	code, out = interrupted(t, 700*time.Millisecond, mc, args...)
	if code != exitcode.Interrupted {
		t.Errorf("mboxconv import interrupted by SIGINT: exit %d, want %d\n%s", code, exitcode.Interrupted, out)
	}
	resumed := time.Now()
	code, out = runBin(t, 5*time.Minute, mc, args...)
	t.Logf("the resumed import took %v", time.Since(resumed).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("the interrupted import did not resume: exit %d\n%s", code, out)
	}
}

func runOK(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, out)
	}
	return string(out), nil
}

// interrupted runs bin, sends SIGINT after d (and every 300 ms after that,
// in case the first arrived before the program listened for it: a test
// run from a background job starts its children with SIGINT ignored) and
// returns the exit status and the combined output.
func interrupted(t *testing.T, d time.Duration, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		time.Sleep(d) // the interrupt lands d into the run: the thing tested
		for {
			cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	go func() { done <- cmd.Wait() }()
	defer func() {
		t.Logf("%s %s: stopped %v after it started", filepath.Base(bin), args[0], time.Since(start).Round(time.Millisecond))
	}()
	select {
	case err := <-done:
		return exitCode(err), out.String()
	case <-time.After(time.Minute):
		cmd.Process.Signal(syscall.SIGQUIT) // a Go program prints its goroutines
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		t.Fatalf("%s %v did not stop after SIGINT:\n%s", filepath.Base(bin), args, out.String())
	}
	return -1, ""
}

// bigSource writes a Cyrus 3.6 JSON dump of n personal mailboxes.
func bigSource(t *testing.T, dir string, n int) string {
	t.Helper()
	p := filepath.Join(dir, "big.json")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := mboxlist.NewJSONEncoder(w)
	for i := 0; i < n; i++ {
		user := fmt.Sprintf("user%07d", i)
		e := mboxlist.Entry{Name: "user." + user, Partition: "default", Server: fmt.Sprintf("be%d", i%2),
			UniqueID: fmt.Sprintf("%08x-exit-4e00-8000-%012x", i, i), UIDValidity: uint32(1600000000 + i),
			CreatedModseq: 1, FolderModseq: 1, Mtime: int64(1700000000 + i),
			ACL: mboxlist.ACL{{ID: user, Rights: "lrswipkxtecdan"}}}
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
	return p
}
