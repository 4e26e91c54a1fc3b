package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// Debian's nginx (package nginx) and its mail module (libnginx-mod-mail),
// installed by `make deps`.
const (
	nginxBin        = "/usr/sbin/nginx"
	nginxMailModule = "/usr/lib/nginx/modules/ngx_mail_module.so"
)

// Issue 5, proof 3: real nginx proxies IMAP to a real Cyrus backend through
// the bridge's auth_http endpoint. nginx asks /auth where the user goes; the
// bridge answers with the IP address and port of the server holding the
// preferred primary of the user's INBOX; nginx logs in there with the
// user's own credentials (the bridge passes them through: the backend's
// Cyrus checks the password). The user reaches their mailboxes; a wrong
// password is refused by the backend; a user with no INBOX is refused by
// the bridge.
func TestNginxAuthHTTPToRealBackend(t *testing.T) {
	for _, p := range []string{nginxBin, nginxMailModule} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("this test needs Debian's nginx and libnginx-mod-mail (make deps): %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	be := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true})
	be.RunSteps(t, murdertest.LabSeed)
	aliceWant, err := func() ([]string, error) {
		s, err := murdertest.DialIMAP(be.IMAPAddr, "alice", be.Users["alice"])
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return s.Names("*")
	}()
	if err != nil {
		t.Fatal(err)
	}

	// the registry: alice's INBOX on the real backend (a second location
	// first would not be preferred); bob's INBOX preferred on a server that
	// does not answer, to show the primary decides
	st, err := leveldb.Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	beLoc := registry.Location{Server: be.Servername, Partition: "default"}
	deadPort := murdertest.FreePort(t)
	for _, e := range []registry.Entry{
		{Entry: mboxlist.Entry{Name: "user.alice", Type: mboxlist.FlagRemote, ACL: mboxlist.ACL{{ID: "alice", Rights: "lrswipkxtecdan"}}},
			Locations: []registry.Location{beLoc, {Server: fmt.Sprintf("127.0.0.1:%d", deadPort), Partition: "default"}}},
		{Entry: mboxlist.Entry{Name: "user.bob", Type: mboxlist.FlagRemote, ACL: mboxlist.ACL{{ID: "bob", Rights: "lrswipkxtecdan"}}},
			Locations: []registry.Location{{Server: fmt.Sprintf("127.0.0.1:%d", deadPort), Partition: "default"}, beLoc}},
	} {
		e.Normalize()
		if _, err := st.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	hs, err := httpapi.New(httpapi.Config{Store: st, Logger: newTestLogger(&lockedBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ctx, hln)

	// nginx, mail proxy only, in the foreground
	dir := t.TempDir()
	ngxAddr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	conf := fmt.Sprintf(`load_module %s;
daemon off;
master_process off;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 64; }
mail {
    server_name murderkit.test;
    auth_http %s/auth;
    proxy_pass_error_message on;
    server {
        listen %s;
        protocol imap;
        imap_auth login plain;
    }
}
`, nginxMailModule, dir, dir, hln.Addr().String(), ngxAddr)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginxBin, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	ngx := exec.Command(nginxBin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	ngxOut := &lockedBuffer{}
	ngx.Stdout, ngx.Stderr = ngxOut, ngxOut
	if err := ngx.Start(); err != nil {
		t.Fatal(err)
	}
	ngxDone := make(chan error, 1)
	go func() { ngxDone <- ngx.Wait() }()
	defer func() {
		ngx.Process.Kill()
		<-ngxDone
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", ngxOut.String(), log)
		}
	}()
	if err := murdertest.Eventually(10*time.Second, func() error {
		c, err := net.DialTimeout("tcp", ngxAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("nginx never listened on %s: %v", ngxAddr, err)
	}

	// alice logs in through nginx and reaches her mailboxes on the backend
	s, err := murdertest.DialIMAP(ngxAddr, "alice", be.Users["alice"])
	if err != nil {
		t.Fatalf("alice's login through nginx: %v", err)
	}
	got, err := s.Names("*")
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, aliceWant) || !slices.Contains(got, "INBOX.Sent") {
		t.Errorf("LIST through nginx = %q, want the backend's %q", got, aliceWant)
	}

	// the password is checked by the backend (pass-through)
	if s, err := murdertest.DialIMAP(ngxAddr, "alice", "wrong"); err == nil {
		s.Close()
		t.Error("a wrong password got through nginx")
	}
	// no INBOX in the registry: refused by the bridge
	if s, err := murdertest.DialIMAP(ngxAddr, "carol", "carolpw"); err == nil {
		s.Close()
		t.Error("a user without an INBOX got through nginx")
	}
	// bob's preferred primary is a server that does not answer: nginx
	// follows the bridge there and fails, although a copy exists on the
	// backend (the preferred primary decides)
	if s, err := murdertest.DialIMAP(ngxAddr, "bob", be.Users["bob"]); err == nil {
		s.Close()
		t.Error("bob reached a server that is not his preferred primary")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	if !strings.Contains(string(log), fmt.Sprintf("127.0.0.1:%d", deadPort)) {
		t.Errorf("nginx's log does not show it was sent to bob's primary 127.0.0.1:%d", deadPort)
	}
}
