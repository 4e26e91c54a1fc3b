package murdertest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
)

// Saslauthd is a real saslauthd (Debian sasl2-bin) checking passwords
// against a private sasldb (`saslauthd -a sasldb`), for instances whose
// imapd.conf says `sasl_pwcheck_method: saslauthd`.
//
// saslauthd's sasldb module always opens libsasl's default /etc/sasldb2 and,
// for a request without a realm (Cyrus's mupdate sends none), looks users up
// in the realm of its host name. So it runs in a private mount and UTS
// namespace (unshare -m -u) where /etc/sasldb2 is a bind mount of a sasldb
// made here with saslpasswd2 and the host name is Realm; the host's
// /etc/sasldb2 and host name are not touched.
type Saslauthd struct {
	Dir    string // socket directory (saslauthd -m); world-searchable
	Socket string // Dir/mux: imapd.conf's sasl_saslauthd_path
	Realm  string // the host name inside the namespace: the users' realm
	DB     string // the sasldb2 file
	Users  map[string]string

	log  *Buffer
	cmd  *exec.Cmd
	done chan struct{}
}

// StartSaslauthd starts saslauthd -a sasldb with users (in realm) on a
// private socket and waits until it answers. It fails the test when
// saslauthd, saslpasswd2 or unshare is missing or it does not start.
func StartSaslauthd(t testing.TB, realm string, users map[string]string) *Saslauthd {
	t.Helper()
	for _, p := range []string{"/usr/sbin/saslauthd", "/usr/sbin/saslpasswd2", "/usr/bin/unshare", "/etc/sasldb2"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("murdertest: saslauthd needs %s (%v): install sasl2-bin, util-linux", p, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("murdertest: saslauthd needs root (mount namespace, sasldb)")
	}
	dir, err := os.MkdirTemp("", "murdertest-saslauthd-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Saslauthd{Dir: filepath.Join(dir, "run"), Realm: realm, DB: filepath.Join(dir, "sasldb2"), Users: users, log: &Buffer{}, done: make(chan struct{})}
	s.Socket = filepath.Join(s.Dir, "mux")
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("murdertest: saslauthd kept in %s; its log:\n%s", dir, s.Log())
			return
		}
		os.RemoveAll(dir)
	})
	// the cyrus user (cyrmaster's services) must reach the socket
	for _, d := range []string{dir, s.Dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		cmd := exec.Command("/usr/sbin/saslpasswd2", "-p", "-c", "-f", s.DB, "-u", realm, u)
		cmd.Stdin = strings.NewReader(users[u])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("saslpasswd2 %s: %v: %s", u, err, out)
		}
	}
	script := `set -e
mount --bind "$1" /etc/sasldb2
hostname "$2"
exec /usr/sbin/saslauthd -a sasldb -m "$3" -d -n 2`
	s.cmd = exec.Command("/usr/bin/unshare", "-m", "-u", "--propagation", "private", "/bin/sh", "-c", script, "sh", s.DB, realm, s.Dir)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("murdertest: start saslauthd: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	exited := errors.New("exited")
	err = eventually.Wait(StartTimeout, func() error {
		select {
		case <-s.done:
			return eventually.Stop(exited)
		default:
		}
		if !strings.Contains(s.log.String(), "listening on socket: "+s.Socket) {
			return errors.New("not listening")
		}
		return nil
	})
	switch {
	case err == exited:
		t.Fatalf("murdertest: saslauthd exited at start: %v\n%s", s.cmd.ProcessState, s.log.String())
	case err != nil:
		t.Fatalf("murdertest: saslauthd did not listen on %s within %v:\n%s", s.Socket, StartTimeout, s.log.String())
	}
	return s
}

// Log is saslauthd's debug output so far (one line per check: user,
// service, realm, result).
func (s *Saslauthd) Log() string { return s.log.String() }

// WaitLog waits up to 5 s for every one of lines to be in Log (saslauthd
// writes its line about a check while or after it answers) and reports
// whether they all came.
func (s *Saslauthd) WaitLog(lines ...string) bool {
	return eventually.WaitTrue(5*time.Second, func() bool {
		l, all := s.Log(), true
		for _, want := range lines {
			all = all && strings.Contains(l, want)
		}
		return all
	})
}

// Stop ends saslauthd and its workers (its process group): SIGTERM, then
// SIGKILL after 5 s. The socket then refuses connections.
func (s *Saslauthd) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	select {
	case <-s.done:
	default:
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
	}
	// workers may outlive the master briefly
	syscall.Kill(-pgid, syscall.SIGKILL)
}

func (s *Saslauthd) String() string {
	return fmt.Sprintf("saslauthd at %s (realm %s)", s.Socket, s.Realm)
}
