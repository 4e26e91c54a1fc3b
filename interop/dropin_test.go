package interop

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// dropInSteps are run on the backend as its admin: personal folders, a
// shared folder with a group and a negative ACL, a rename with children.
var dropInSteps = []string{"user.alice", "user.alice.Sent", "user.alice.Projects", "user.alice.Projects.2026", "user.bob", "shared.team"}

// murderUnderCyrmaster starts a real murder whose master is the Cyrus
// master (cyrmaster) running masterCmd (nil: `mupdate -m`) in cyrus.conf's
// SERVICES entry, one real backend and one real frontend; the backend's
// admin creates dropInSteps; it returns what alice and bob then LIST
// through the frontend, and the master instance.
func murderUnderCyrmaster(t *testing.T, name string, masterCmd func(*murdertest.Instance) string) (map[string][]string, *murdertest.Instance) {
	t.Helper()
	return murderUnderCyrmasterWith(t, murdertest.Options{Name: name, MasterCmd: masterCmd})
}

// murderUnderCyrmasterWith is murderUnderCyrmaster with the master's
// options (opts.Name names the murder).
func murderUnderCyrmasterWith(t *testing.T, opts murdertest.Options) (map[string][]string, *murdertest.Instance) {
	t.Helper()
	name := opts.Name
	master := murdertest.StartMaster(t, opts)
	be := murdertest.StartBackend(t, master.MupdateAddr, murdertest.Options{Name: name + "-be"})
	fe := murdertest.StartFrontend(t, master.MupdateAddr, murdertest.Options{Name: name + "-fe", Serverlist: []string{be.Servername}})
	admin := be.IMAPAs(t, "admin")
	for _, m := range dropInSteps {
		if err := admin.Create(m); err != nil {
			t.Fatalf("%s: backend CREATE %s: %v\nmaster syslog:\n%s", name, m, err, master.Log())
		}
	}
	for _, acl := range [][3]string{{"shared.team", "alice", "lrs"}, {"shared.team", "-bob", "l"}, {"shared.team", "anyone", "lr"}} {
		if err := admin.SetACL(acl[0], acl[1], acl[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.Rename("user.alice.Projects", "user.alice.Archive"); err != nil {
		t.Fatalf("%s: RENAME: %v", name, err)
	}
	out := map[string][]string{}
	for _, u := range []string{"alice", "bob"} {
		var names []string
		// the frontend's slave has every change once the rename is there
		// (what it lists is compared by the caller)
		eventually.WaitTrue(20*time.Second, func() bool {
			var err error
			names, err = fe.IMAPAs(t, u).Names("*")
			if err != nil {
				t.Fatalf("%s: %s LIST through the frontend: %v", name, u, err)
			}
			return slices.Contains(names, "INBOX.Archive.2026") || u != "alice"
		})
		slices.Sort(names)
		out[u] = names
	}
	return out, master
}

// TestDropInUnderCyrmaster: murder-bridge replaces `mupdate -m` in the
// master's cyrus.conf (same SERVICES name, same listen= port, prefork=1,
// the master's imapd.conf for admins), with no --listen: it takes the
// socket Cyrus's master passes. A real backend and a real frontend see no
// difference from a murder whose master runs the real mupdate -m, and
// cyrmaster runs one murder-bridge process for every connection.
func TestDropInUnderCyrmaster(t *testing.T) {
	bin := murderBridgeBinary(t)
	want, _ := murderUnderCyrmaster(t, "real-master", nil)

	var binCopy string
	got, master := murderUnderCyrmaster(t, "bridge-master", func(in *murdertest.Instance) string {
		binCopy = filepath.Join(in.Dir, "murder-bridge")
		copyFile(t, bin, binCopy, 0o755)
		creds := filepath.Join(in.Dir, "credentials")
		if err := os.WriteFile(creds, []byte("murder:"+in.Users["murder"]+"\nadmin:"+in.Users["admin"]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return strings.Join([]string{binCopy, "serve", "--imapd-conf", in.Conf, "--credentials", creds,
			"--registry", "leveldb://" + filepath.Join(in.Dir, "registry"), "--log-syslog", "--servername", in.Servername}, " ")
	})
	t.Logf("LIST through the frontend under both masters: %v", got)
	for _, u := range []string{"alice", "bob"} {
		if !slices.Equal(got[u], want[u]) || len(want[u]) < 2 {
			t.Errorf("%s's LIST through the frontend: under murder-bridge %v, under mupdate -m %v", u, got[u], want[u])
		}
	}
	log := master.Log()
	if !strings.Contains(log, "MUPDATE listener passed by the service manager") || !strings.Contains(log, "from=cyrus") {
		t.Errorf("murder-bridge did not log taking cyrmaster's socket; master syslog:\n%s", log)
	}
	// cyrmaster started exactly one murder-bridge (it reported each
	// connection as a multi-connection service and stayed ready)
	if n := processesRunning(t, binCopy); n != 1 {
		t.Errorf("%d murder-bridge processes under cyrmaster, want 1 (syslog:\n%s)", n, log)
	}
	if strings.Contains(log, "in READY state: reported new connection") || strings.Contains(log, "ILLEGAL state") {
		t.Errorf("cyrmaster complained about the status messages:\n%s", log)
	}
}

// TestDropInSystemdSocket: murder-bridge started by systemd's socket
// activation (systemd-socket-activate, the same LISTEN_PID/LISTEN_FDS
// protocol as a .socket unit) answers on the socket it was given, from the
// first connection (the one that started it) on.
func TestDropInSystemdSocket(t *testing.T) {
	bin := murderBridgeBinary(t)
	if _, err := os.Stat("/usr/bin/systemd-socket-activate"); err != nil {
		t.Fatalf("systemd-socket-activate (package systemd) is needed: %v", err)
	}
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("admin:adminpw\n"), 0o600)
	addr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	cmd := exec.Command("/usr/bin/systemd-socket-activate", "-l", addr, bin, "serve", "--credentials", creds,
		"--registry", "leveldb://"+filepath.Join(dir, "registry"), "--servername", "socket.murdertest")
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	var out [][]string
	if err := eventually.Wait(20*time.Second, func() (err error) {
		out, err = rawSession(addr, "admin", "adminpw", `RESERVE "user.zed" "be1!default"`, `ACTIVATE "user.zed" "be1!default" "zed lrswipkxtecda"`, `FIND "user.zed"`)
		return err
	}); err != nil {
		t.Fatalf("MUPDATE through the systemd socket: %v\n%s", err, logs.String())
	}
	if f := strings.Join(out[len(out)-1], "\n"); len(out) != 3 || !strings.Contains(f, "user.zed") || !strings.Contains(f, "be1!default") || !strings.Contains(f, "T2 OK") {
		t.Errorf("FIND after ACTIVATE: %q", out)
	}
	if l := logs.String(); !strings.Contains(l, "from=systemd") || !strings.Contains(l, addr) {
		t.Errorf("murder-bridge did not log taking systemd's socket %s:\n%s", addr, l)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cyrustest.Chown(to); err != nil {
		t.Fatal(err)
	}
}

// processesRunning counts live processes whose executable is exe.
func processesRunning(t *testing.T, exe string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && p == exe {
			n++
		}
	}
	return n
}
