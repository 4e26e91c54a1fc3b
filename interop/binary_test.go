package interop

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// murderBridgeBinary builds cmd/murder-bridge once per test process.
func murderBridgeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "murderkit-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "murder-bridge")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/murderkit/murderkit/cmd/murder-bridge").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/murder-bridge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// bridgeProc is a running `murder-bridge serve` process.
type bridgeProc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
}

func startServe(t *testing.T, args ...string) *bridgeProc {
	t.Helper()
	cmd := exec.Command(murderBridgeBinary(t), append([]string{"serve"}, args...)...)
	p := &bridgeProc{cmd: cmd, out: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("murder-bridge output:\n%s", p.out.String())
		}
	})
	return p
}

// term sends SIGTERM and returns the exit status (-1: still running after
// 15 s, then killed).
func (p *bridgeProc) term(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return -1
	case <-time.After(15 * time.Second):
		return -1
	}
}

func waitGreeting(t *testing.T, addr string) {
	t.Helper()
	err := murdertest.Eventually(20*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(l, "* OK") {
				return nil
			}
		}
	})
	if err != nil {
		t.Fatalf("murder-bridge on %s never greeted: %v", addr, err)
	}
}

// The program operators run: `murder-bridge serve` on a leveldb registry,
// a real backend and a real frontend pointed at it; SIGTERM ends UPDATE
// streams with * BYE and exits 0; a restart on the same registry serves the
// same list, the frontend's slave resynchronises, and later changes flow.
func TestServeBinaryWithRealMurder(t *testing.T) {
	bin := murderBridgeBinary(t)
	if out, err := exec.Command(bin, "serve").CombinedOutput(); exitCode(err) != 2 {
		t.Errorf("serve without --credentials: exit %d, want 2 (usage)\n%s", exitCode(err), out)
	}

	dir := t.TempDir()
	cf := filepath.Join(dir, "credentials")
	os.WriteFile(cf, []byte("# lab identities\nmurder:murderpw\nadmin:adminpw\n"), 0o600)
	addr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	args := []string{"--registry", "leveldb://" + filepath.Join(dir, "registry"), "--listen", addr,
		"--credentials", cf, "--admins", "murder,admin", "--servername", "bridge.murdertest"}
	p := startServe(t, args...)
	waitGreeting(t, addr)

	m := murdertest.StartMurder(t, murdertest.MurderOptions{MupdateAddr: addr, Seed: murdertest.LabSeed,
		Frontend: murdertest.Options{RetryDelay: 2}})
	alice := func() []string {
		s, err := murdertest.DialIMAP(m.Frontend.IMAPAddr, "alice", "alicepw")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		n, err := s.Names("*")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got, want := alice(), []string{"INBOX", "INBOX.Sent", "INBOX.Trash", "shared", "shared.lab"}; !slices.Equal(got, want) {
		t.Fatalf("alice's LIST through the frontend = %v, want %v", got, want)
	}

	// an UPDATE client of our own, to see the BYE
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	readUntil := func(prefix string) string {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
	}
	readUntil("* OK")
	resp := base64.StdEncoding.EncodeToString([]byte("\x00admin\x00adminpw"))
	fmt.Fprintf(c, "A01 AUTHENTICATE \"PLAIN\" \"%s\"\r\nU01 UPDATE\r\n", resp)
	readUntil("A01 OK")
	readUntil(`U01 OK "streaming starts"`)
	// the SIGTERM lands right after the OK (mupdateserver's
	// TestShutdownBetweenCommandsSaysBye covers that window)
	if code := p.term(t); code != 0 {
		t.Fatalf("murder-bridge exit status after SIGTERM = %d, want 0", code)
	}
	if l := readUntil("* BYE"); !strings.Contains(l, "shutting down") {
		t.Errorf("UPDATE client got %q", l)
	}

	// restart on the same registry and port
	p2 := startServe(t, args...)
	waitGreeting(t, addr)
	s := m.Backend.IMAPAs(t, "alice")
	if err := s.Create("INBOX.AfterRestart"); err != nil {
		t.Fatalf("CREATE after the bridge restarted: %v\n%s", err, m.Backend.Log())
	}
	err = murdertest.Eventually(30*time.Second, func() error {
		if n := alice(); !slices.Contains(n, "INBOX.AfterRestart") || !slices.Contains(n, "shared.lab") {
			return fmt.Errorf("alice's LIST through the frontend = %v", n)
		}
		return nil
	})
	if err != nil {
		t.Errorf("after the restart: %v\nfrontend syslog:\n%s", err, m.Frontend.Log())
	}
	if code := p2.term(t); code != 0 {
		t.Errorf("second murder-bridge exit status = %d", code)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
