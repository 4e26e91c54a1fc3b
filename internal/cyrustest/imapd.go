package cyrustest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
)

// IMAPD is a release's cyrmaster serving its imapd on a 127.0.0.1 port,
// on a Config's files (its configdirectory's mailboxes.db).
type IMAPD struct {
	Addr string
	// Admin and AdminPassword log in as a Cyrus admin (PLAIN / LOGIN).
	Admin, AdminPassword string
	cmd                  *exec.Cmd
	done                 chan struct{}
	log                  string
}

// StartIMAPD starts the Config's release's cyrmaster (for a chroot release
// inside the chroot, in a private mount namespace with /proc and a small
// /dev) with one imapd service on a free loopback port. imapd.conf gets the
// settings it needs appended (servername, SASL from a sasldb with the admin
// "admin", plaintext login, virtual domains by userid, user renames,
// delayed deletes) unless it sets them already. Call it once per
// Config; the server is stopped when the test ends.
func (c *Config) StartIMAPD(t testing.TB) *IMAPD {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("StartIMAPD needs root: cyrmaster drops to the cyrus user itself")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &IMAPD{Addr: addr, Admin: "admin", AdminPassword: "adminpw", log: filepath.Join(c.Dir, "cyrmaster.log")}
	sasldb := filepath.Join(c.Dir, "sasldb2")
	conf := []string{
		"servername: murderkit-test",
		"virtdomains: userid",
		"allowusermoves: yes",
		"delete_mode: delayed",
		"unixhierarchysep: no",
		"altnamespace: no",
		"sasl_pwcheck_method: auxprop",
		"sasl_auxprop_plugin: sasldb",
		"sasl_sasldb_path: " + c.Inside(sasldb),
		"sasl_mech_list: PLAIN",
		"allowplaintext: yes",
	}
	// Cyrus refuses an option given twice (EX_CONFIG): add only the
	// options the file has not set.
	have, err := os.ReadFile(c.Conf)
	if err != nil {
		t.Fatal(err)
	}
	var add []string
	for _, l := range conf {
		key := l[:strings.IndexByte(l, ':')+1]
		if !strings.HasPrefix(string(have), key) && !strings.Contains(string(have), "\n"+key) {
			add = append(add, l)
		}
	}
	f, err := os.OpenFile(c.Conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(strings.Join(add, "\n") + "\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"socket", "proc", "lock", "log", "user", "quota", "sieve", "msg", "ptclient", "sync"} {
		if err := os.MkdirAll(filepath.Join(c.ConfigDir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	bin := BinDir
	cyrusConf := filepath.Join(c.Dir, "cyrus.conf")
	text := fmt.Sprintf("START {\n  recover cmd=\"%[1]s/ctl_cyrusdb -C %[2]s -r\"\n}\nSERVICES {\n  imap cmd=\"%[1]s/imapd -C %[2]s\" listen=\"%[3]s\" prefork=0\n}\nEVENTS {\n}\n",
		bin, c.Inside(c.Conf), addr)
	if err := os.WriteFile(cyrusConf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// the admin's password, in the servername's realm (Cyrus asks SASL with
	// no realm: the servername)
	var pw *exec.Cmd
	if c.Release.Root == "" {
		pw = exec.Command("/usr/sbin/saslpasswd2", "-p", "-c", "-f", sasldb, "-u", "murderkit-test", s.Admin)
	} else {
		pw = exec.Command("chroot", c.Release.Root, "/usr/sbin/saslpasswd2", "-p", "-c", "-f", c.Inside(sasldb), "-u", "murderkit-test", s.Admin)
	}
	pw.Stdin = strings.NewReader(s.AdminPassword)
	if out, err := pw.CombinedOutput(); err != nil {
		t.Fatalf("Cyrus %s saslpasswd2: %v: %s", c.Release.Version, err, out)
	}
	if err := c.Chown(c.Dir); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"/usr/sbin/cyrmaster", "-p", c.Inside(filepath.Join(c.Dir, "master.pid")), "-C", c.Inside(c.Conf), "-M", c.Inside(cyrusConf)}
	if c.Release.Root == "" {
		s.cmd = exec.Command(argv[0], argv[1:]...)
	} else {
		// as root: cyrmaster drops to cyrus itself
		args := append([]string{"-m", "--propagation", "private", "sh", "-c", chrootScript, "sh", c.Release.Root, "0:0"}, argv...)
		s.cmd = exec.Command("/usr/bin/unshare", args...)
		s.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start Cyrus %s cyrmaster: %v", c.Release.Version, err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); logf.Close(); close(s.done) }()
	t.Cleanup(s.Stop)
	if err := s.waitGreeting(60 * time.Second); err != nil {
		s.Stop()
		b, _ := os.ReadFile(s.log)
		t.Fatalf("Cyrus %s imapd on %s: %v\ncyrmaster said:\n%s", c.Release.Version, addr, err, b)
	}
	return s
}

func (s *IMAPD) waitGreeting(timeout time.Duration) error {
	return WaitGreeting(s.Addr, timeout, s.done)
}

// Greeted dials addr once and reads lines until one starts "* OK" (an IMAP
// greeting, or the last line of a MUPDATE banner); it returns nil then, else
// why not.
func Greeted(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if strings.HasPrefix(line, "* OK") {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %v", addr, err)
		}
	}
}

// WaitGreeting waits up to timeout until addr greets (Greeted); it gives up
// at once when exited (the server process's end) is closed.
func WaitGreeting(addr string, timeout time.Duration, exited <-chan struct{}) error {
	err := eventually.Wait(timeout, func() error {
		select {
		case <-exited:
			return eventually.Stop(fmt.Errorf("cyrmaster exited before %s greeted", addr))
		default:
		}
		return Greeted(addr)
	})
	if err != nil {
		return fmt.Errorf("no greeting on %s within %v: %w", addr, timeout, err)
	}
	return nil
}

// Stop stops cyrmaster (SIGTERM, then SIGKILL to its process group after
// 10 s) and waits for it, so the files are closed. Safe to call twice.
func (s *IMAPD) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	StopMaster(s.cmd.Process.Pid, s.done, 10*time.Second)
	s.cmd = nil
}

// StopMaster stops a cyrmaster that leads its own process group: SIGTERM
// to it, then, when done (closed when the process has been waited for) is
// not closed within grace, SIGKILL to the whole group; at the end it kills
// any child left in the group.
func StopMaster(pid int, done <-chan struct{}, grace time.Duration) {
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	// children that outlived their master (same process group)
	syscall.Kill(-pid, syscall.SIGKILL)
}
