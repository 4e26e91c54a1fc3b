package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func execCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var cmd = newLookupCommand()
	if args[0] == "visible" {
		cmd = newVisibleCommand()
	}
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args[1:])
	err := cmd.Execute()
	return out.String(), err
}

// While a bridge owns a leveldb registry, lookup and visible with --bridge
// print exactly what they print with --registry when no bridge runs.
func TestLookupVisibleThroughBridge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	st, err := leveldb.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []registry.Entry{
		mbox("user.fred", 0, "fred", "lrswipkxtecdan", "anyone", "0"),
		mbox("user.fred.Sent", 0, "fred", "lrswipkxtecdan"),
		mbox("shared.news", 0, "anyone", "lrs", "-fred", "l"),
		mbox("shared.staff", 0, "group:staff", "lrs"),
		mbox("example.com!user.jane", 0, "jane@example.com", "lrswipkxtecdan"),
	} {
		e.Locations = []registry.Location{{Server: "be1", Partition: "default"}, {Server: "be2", Partition: "p"}}
		e.Normalize()
		if _, err := st.Create(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Delete(context.Background(), "shared.staff", 0); err != nil {
		t.Fatal(err)
	}
	st.Close()
	reg := "leveldb://" + dir
	queries := [][]string{
		{"lookup", "user.fred"}, {"lookup", "example.com!user.jane"}, {"lookup", "shared.news"},
		{"visible", "fred"}, {"visible", "carol", "--group", "staff"}, {"visible", "jane@example.com"},
	}
	want := map[string]string{}
	for _, q := range queries {
		out, err := execCmd(t, append(q, "--registry", reg)...)
		if err != nil {
			t.Fatalf("%v: %v", q, err)
		}
		want[strings.Join(q, " ")] = out
	}
	_, direct := execCmd(t, "lookup", "shared.staff", "--registry", reg)

	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte("murder:murderpw\n"), 0o600)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("t0ken-for-reads\n"), 0o600)
	httpA := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := serveOptions{registry: reg, listen: freeAddr(t), credentials: creds, http: httpA, httpTokenFile: tokenFile,
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, o) }()
	waitHTTP(t, "http://"+httpA+"/healthz")

	// the registry is owned now
	if _, err := execCmd(t, "lookup", "user.fred", "--registry", reg); exitcode.Of(err) != exitcode.Registry {
		t.Errorf("direct lookup while the bridge runs = %v, want a registry error", err)
	}
	for _, q := range queries {
		// without the token: a usage error naming --token-file
		if _, err := execCmd(t, append(q, "--bridge", "http://"+httpA)...); exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "--token-file") {
			t.Errorf("%v --bridge without --token-file: %v", q, err)
		}
		got, err := execCmd(t, append(q, "--bridge", "http://"+httpA, "--token-file", tokenFile)...)
		if err != nil {
			t.Errorf("%v --bridge: %v", q, err)
			continue
		}
		if w := want[strings.Join(q, " ")]; got != w || w == "" {
			t.Errorf("%v --bridge printed\n%s\nwant (as --registry)\n%s", q, got, w)
		}
	}
	_, viaBridge := execCmd(t, "lookup", "shared.staff", "--bridge", "http://"+httpA, "--token-file", tokenFile)
	if exitcode.Of(viaBridge) != exitcode.Of(direct) || viaBridge == nil || !strings.Contains(viaBridge.Error(), "deleted at revision") {
		t.Errorf("deleted mailbox: --bridge %v, --registry %v", viaBridge, direct)
	}
	if _, err := execCmd(t, "lookup", "x", "--bridge", "http://h", "--registry", reg); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("both --bridge and --registry = %v", err)
	}
	if _, err := execCmd(t, "lookup", "x", "--bridge", "ftp://h", "--token-file", tokenFile); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("bad --bridge URL = %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve = %v", err)
	}
}

func waitHTTP(t *testing.T, u string) {
	t.Helper()
	eventually.Nil(t, 10*time.Second, func() error {
		r, err := http.Get(u)
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			return fmt.Errorf("%s: %s", u, r.Status)
		}
		return nil
	})
}

// Settings from the environment, --config and --imapd-conf reach serve in
// the documented precedence, through the real cobra command's flags.
func TestServeConfigPrecedence(t *testing.T) {
	d := t.TempDir()
	imapd := filepath.Join(d, "imapd.conf")
	os.WriteFile(imapd, []byte("mupdate_server: 127.0.0.1:13905\nmupdate_authname: murder\nmupdate_password: frompw\nadmins: admin murder\ntls_server_key: /k\n"), 0o600)
	conf := filepath.Join(d, "bridge.conf")
	os.WriteFile(conf, []byte("listen: 127.0.0.1:3999\nadmins: fromfile\nfollow-user: fromfile\n"), 0o600)
	o := &serveOptions{}
	cmd := newServeCmdWith(o)
	if err := cmd.ParseFlags([]string{"--admins", "fromflag", "--imapd-conf", imapd}); err != nil {
		t.Fatal(err)
	}
	environ := []string{"MURDER_BRIDGE_CONFIG=" + conf, "MURDER_BRIDGE_FOLLOW_USER=fromenv", "HOME=/root"}
	if err := o.resolve(cmd, environ); err != nil {
		t.Fatal(err)
	}
	got := [7]string{o.admins, o.followUser, o.listen, o.follow, o.followPassword, o.tlsKey, o.configFile}
	want := [7]string{"fromflag", "fromenv", "127.0.0.1:3999", "127.0.0.1:13905", "frompw", "/k", conf}
	if got != want {
		t.Errorf("resolved %q, want %q", got, want)
	}
	// the shipped example config file is valid, and may name an imapd.conf
	o = &serveOptions{}
	cmd = newServeCmdWith(o)
	cmd.ParseFlags(nil)
	ex, _ := os.ReadFile("../../dist/bridge.conf.example")
	exConf := filepath.Join(d, "example.conf")
	os.WriteFile(exConf, append(ex, []byte("imapd-conf: "+imapd+"\n")...), 0o600)
	if err := o.resolve(cmd, []string{"MURDER_BRIDGE_CONFIG=" + exConf}); err != nil {
		t.Fatalf("dist/bridge.conf.example: %v", err)
	}
	if o.listen != ":3905" || o.http != "127.0.0.1:8405" || o.follow != "127.0.0.1:13905" || o.followPassword != "frompw" {
		t.Errorf("example config resolved to listen %q http %q follow %q", o.listen, o.http, o.follow)
	}
	// a typo in the environment is a usage error naming the variable
	o = &serveOptions{}
	cmd = newServeCmdWith(o)
	cmd.ParseFlags(nil)
	if err := o.resolve(cmd, []string{"MURDER_BRIDGE_FOLOW=x"}); exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "MURDER_BRIDGE_FOLOW") {
		t.Errorf("typo = %v", err)
	}
	// follow mode needs its credentials
	for _, c := range []serveOptions{
		{follow: "h:1"},
		{follow: "h:1", followUser: "u"},
		{followUser: "u"},
		{httpTokenFile: "/x"},
		{follow: "h:1", followUser: "u", followPasswordFile: filepath.Join(d, "missing")},
		{logLevel: "loud"},
		{logFormat: "xml"},
	} {
		if _, err := c.config(); err == nil {
			t.Errorf("config(%+v) accepted", c)
		}
	}
}

// dist/murder-bridge.service passes systemd's own checker, and its
// ExecStart arguments are flags serve accepts.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../dist/murder-bridge.service")
	if err != nil {
		t.Fatal(err)
	}
	var execStart string
	for _, l := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			execStart = v
		}
	}
	f := strings.Fields(execStart)
	if len(f) < 2 || f[0] != "/usr/local/bin/murder-bridge" || f[1] != "serve" {
		t.Fatalf("ExecStart=%q", execStart)
	}
	o := &serveOptions{}
	if err := newServeCmdWith(o).ParseFlags(f[2:]); err != nil || o.configFile != "/etc/murder-bridge/bridge.conf" {
		t.Errorf("serve rejects the unit's arguments %q: %v", f[2:], err)
	}
	tmp := filepath.Join(t.TempDir(), "murder-bridge.service")
	os.WriteFile(tmp, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/murder-bridge", "/bin/true")), 0o644)
	sock, err := os.ReadFile("../../dist/murder-bridge.socket")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(sock), "\nListenStream="); n != 1 {
		t.Errorf("dist/murder-bridge.socket has %d ListenStream= lines; murder-bridge takes exactly one socket", n)
	}
	os.WriteFile(filepath.Join(filepath.Dir(tmp), "murder-bridge.socket"), sock, 0o644)
	out, err := exec.Command("systemd-analyze", "verify", tmp, filepath.Join(filepath.Dir(tmp), "murder-bridge.socket")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
