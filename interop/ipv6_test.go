package interop

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// bridge6 is the name Cyrus instances use for [::1]: Cyrus 3.6.1's
// backend_connect splits mupdate_server at its first ':' (host, then port
// and /options), so "[::1]:3905" and "::1" cannot be written there; a name
// that resolves to ::1 alone can (murdertest.Options.Hosts).
const bridge6 = "bridge6.murdertest"

var hosts6 = map[string]string{bridge6: "::1"}

// need6 fails (never skips) when the machine has no IPv6 loopback.
func need6(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("this machine has no usable IPv6 loopback (listen on [::1]: %v): the IPv6 tests need ::1 on lo", err)
	}
	l.Close()
}

// listFrontend waits until LIST pattern as user through fe equals want.
func listFrontend(t *testing.T, fe *murdertest.Instance, user, pattern string, want []string) {
	t.Helper()
	s := fe.IMAPAs(t, user)
	defer s.Close()
	var got []string
	if err := murdertest.Eventually(20*time.Second, func() error {
		var err error
		if got, err = s.Names(pattern); err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("differs")
		}
		return nil
	}); err != nil {
		t.Fatalf("LIST %q as %s through %s = %v (%v), want %v\nsyslog:\n%s", pattern, user, fe.Name, got, err, want, fe.Log())
	}
}

// httpOK waits for a 200 from url (no token: ::1 is in the default
// --http-health-from) and returns the body.
func httpOK(t *testing.T, url string) string {
	t.Helper()
	var body string
	if err := murdertest.Eventually(30*time.Second, func() error {
		r, err := http.Get(url)
		if err != nil {
			return err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", r.Status, b)
		}
		return nil
	}); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return body
}

// The bridge on IPv6 loopback only, with real Cyrus of each release in
// releaseChecks (3.6.1 on the host; with `make release-checks` also 3.2.6,
// 3.10.2, 3.12.4 in their chroots, whose /etc/hosts names bridge6 the same
// way): `murder-bridge serve` listens
// for MUPDATE and HTTP on [::1]; a real backend pushes and creates and a
// real frontend's slave syncs over ::1 (nothing listens on 127.0.0.1 for
// them); /readyz and /metrics answer on [::1] to a ::1 client without a
// token. Then the bridge follows a real mupdate master (of the release)
// that listens on [::1] alone, and the frontend's LIST through that bridge
// follows the master.
func TestIPv6Loopback(t *testing.T) {
	need6(t)
	for _, v := range releaseChecks(t) {
		t.Run(v, func(t *testing.T) { ipv6Loopback(t, cyrustest.ReleaseOf(t, v)) })
	}
}

func ipv6Loopback(t *testing.T, rel cyrustest.Release) {
	t.Run("serve", func(t *testing.T) {
		dir := t.TempDir()
		cf := filepath.Join(dir, "credentials")
		os.WriteFile(cf, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600)
		port, hport := murdertest.FreePort6(t), murdertest.FreePort6(t)
		addr, httpA := fmt.Sprintf("[::1]:%d", port), fmt.Sprintf("[::1]:%d", hport)
		p := startServe(t, "--registry", "leveldb://"+filepath.Join(dir, "registry"), "--listen", addr,
			"--credentials", cf, "--admins", "murder,admin", "--servername", "bridge.murdertest", "--http", httpA)
		waitGreeting(t, addr)
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Fatalf("the bridge also answers on 127.0.0.1:%d: the test would not prove ::1", port)
		}
		m := murdertest.StartMurder(t, murdertest.MurderOptions{MupdateAddr: fmt.Sprintf("%s:%d", bridge6, port), Seed: murdertest.LabSeed,
			Backend: murdertest.Options{Hosts: hosts6, Release: rel}, Frontend: murdertest.Options{Hosts: hosts6, Release: rel}})
		listFrontend(t, m.Frontend, "alice", "*", []string{"INBOX", "INBOX.Sent", "INBOX.Trash", "shared", "shared.lab"})
		alice := m.Backend.IMAPAs(t, "alice")
		if err := alice.Create("INBOX.v6"); err != nil {
			t.Fatalf("CREATE over ::1: %v\nbackend syslog:\n%s", err, m.Backend.Log())
		}
		listFrontend(t, m.Frontend, "alice", "INBOX.*", []string{"INBOX.Sent", "INBOX.Trash", "INBOX.v6"})
		logs := p.out.String()
		logins := strings.Count(logs, `msg="mupdate: login"`)
		if logins < 2 || strings.Count(logs, `msg="mupdate: login" remote=[::1]:`) != logins {
			t.Errorf("%d MUPDATE logins, want >= 2, every one from [::1]:\n%s", logins, logs)
		}
		if !strings.Contains(httpOK(t, "http://"+httpA+"/readyz"), `"ready":true`) {
			t.Errorf("/readyz over ::1 does not say ready")
		}
		if !strings.Contains(httpOK(t, "http://"+httpA+"/metrics"), "murder") {
			t.Errorf("/metrics over ::1 has no murder metrics")
		}
	})
	t.Run("follow", func(t *testing.T) {
		master := murdertest.StartMaster(t, murdertest.Options{IPv6: true, Release: rel})
		if !strings.HasPrefix(master.MupdateAddr, "[::1]:") {
			t.Fatalf("master on %s, want [::1]", master.MupdateAddr)
		}
		_, mport, _ := net.SplitHostPort(master.MupdateAddr)
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+mport, time.Second); err == nil {
			c.Close()
			t.Fatalf("the master also answers on 127.0.0.1:%s", mport)
		}
		m := murdertest.StartMurder(t, murdertest.MurderOptions{MupdateAddr: bridge6 + ":" + mport, Seed: murdertest.LabSeed,
			Backend: murdertest.Options{Hosts: hosts6, Release: rel}, NoFrontend: true})
		dir := t.TempDir()
		cf, pw := filepath.Join(dir, "credentials"), filepath.Join(dir, "master-password")
		os.WriteFile(cf, []byte("murder:murderpw\n"), 0o600)
		os.WriteFile(pw, []byte("murderpw\n"), 0o600)
		port, hport := murdertest.FreePort6(t), murdertest.FreePort6(t)
		addr, httpA := fmt.Sprintf("[::1]:%d", port), fmt.Sprintf("[::1]:%d", hport)
		startServe(t, "--registry", "leveldb://"+filepath.Join(dir, "registry"), "--listen", addr,
			"--credentials", cf, "--admins", "murder", "--follow", master.MupdateAddr, "--follow-user", "murder",
			"--follow-password-file", pw, "--follow-mech", "PLAIN", "--http", httpA)
		waitGreeting(t, addr)
		if !strings.Contains(httpOK(t, "http://"+httpA+"/readyz"), `"ready":true`) {
			t.Errorf("/readyz over ::1 does not say ready")
		}
		fe := murdertest.StartFrontend(t, fmt.Sprintf("%s:%d", bridge6, port), murdertest.Options{Hosts: hosts6, Release: rel, Serverlist: []string{m.Backend.Servername}})
		listFrontend(t, fe, "alice", "*", []string{"INBOX", "INBOX.Sent", "INBOX.Trash", "shared", "shared.lab"})
		// a change on the backend goes to the master over ::1, reaches the
		// bridge's follower over ::1 and the frontend's slave over ::1
		alice := m.Backend.IMAPAs(t, "alice")
		if err := alice.Create("INBOX.v6"); err != nil {
			t.Fatalf("CREATE on the master over ::1: %v\nbackend syslog:\n%s", err, m.Backend.Log())
		}
		listFrontend(t, fe, "alice", "INBOX.*", []string{"INBOX.Sent", "INBOX.Trash", "INBOX.v6"})
		// parseCyrusDump reads 3.2's dump lines as well as the JSON of 3.6 and later
		if d, err := parseCyrusDump(master.CtlMboxlist(t, "-d")); err != nil {
			t.Error(err)
		} else if _, ok := d["user.alice.v6"]; !ok {
			t.Error("the master has no user.alice.v6")
		}
	})
}
