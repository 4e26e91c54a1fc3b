package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
)

// metricsText scrapes /metrics.
func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The MUPDATE limits are flags (so also MURDER_BRIDGE_* and --config keys)
// and their actions are metrics: with --max-unauth-per-addr 2 the third
// stranger from 127.0.0.2 is refused, with --login-timeout 1s the others
// are closed, and FIND of a name no registry can hold is no registry error.
func TestServeLimitsFlagsAndMetrics(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte("murder:murderpw\n"), 0o600)
	o := &serveOptions{}
	cmd := newServeCmdWith(o)
	httpA, mupA := freeAddr(t), freeAddr(t)
	conf := filepath.Join(t.TempDir(), "bridge.conf")
	os.WriteFile(conf, []byte("login-timeout: 1s\nupdate_stream_max_mib: 8\n"), 0o600)
	if err := cmd.ParseFlags([]string{"--registry", "leveldb://" + filepath.Join(t.TempDir(), "reg"), "--listen", mupA, "--credentials", creds,
		"--http", httpA, "--config", conf}); err != nil {
		t.Fatal(err)
	}
	if err := o.resolve(cmd, []string{"MURDER_BRIDGE_MAX_UNAUTH_PER_ADDR=2"}); err != nil {
		t.Fatal(err)
	}
	if o.loginTimeout != time.Second || o.maxUnauthPerAddr != 2 || o.updateStreamMaxMB != 8 || o.updateTotalMaxMB != 256 || o.maxConns != 10000 {
		t.Fatalf("resolved %v %d %d %d %d", o.loginTimeout, o.maxUnauthPerAddr, o.updateStreamMaxMB, o.updateTotalMaxMB, o.maxConns)
	}
	o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, *o) }()
	waitHTTP(t, "http://"+httpA+"/healthz")

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var first []string
	for i := range 3 {
		nc, err := d.Dial("tcp", mupA)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := bufio.NewReader(nc).ReadString('\n')
		if err != nil {
			t.Fatalf("stranger %d: %v", i, err)
		}
		first = append(first, l)
	}
	if !strings.HasPrefix(first[0], "* AUTH") || !strings.HasPrefix(first[1], "* AUTH") ||
		first[2] != "* BYE \"too many connections awaiting login from your address\"\r\n" {
		t.Fatalf("strangers got %q", first)
	}
	// a client from 127.0.0.1 logs in and FINDs names no registry holds
	nc, err := net.Dial("tcp", mupA)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	fmt.Fprintf(nc, "A01 AUTHENTICATE \"PLAIN\" \"%s\"\r\nF1 FIND \"\"\r\nF2 FIND \"user.\xff\"\r\n", base64.StdEncoding.EncodeToString([]byte("\x00murder\x00murderpw")))
	var got []string
	for len(got) < 3 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if !strings.HasPrefix(l, "* ") {
			got = append(got, l)
		}
	}
	if got[1] != "F1 OK \"Search completed\"\r\n" || got[2] != "F2 OK \"Search completed\"\r\n" {
		t.Fatalf("FINDs: %q", got)
	}
	var m string
	eventually.WaitTrue(10*time.Second, func() bool { // the metrics are checked below
		m = metricsText(t, "http://"+httpA)
		return strings.Contains(m, `murder_bridge_mupdate_connections_refused_total{reason="login_timeout"} 2`)
	})
	for _, want := range []string{
		`murder_bridge_mupdate_connections_refused_total{reason="per_address"} 1`,
		`murder_bridge_mupdate_connections_refused_total{reason="login_timeout"} 2`,
		`murder_bridge_mupdate_awaiting_login 0`,
		`murder_bridge_mupdate_update_bytes 0`,
		`murder_bridge_mupdate_update_dropped_total{reason="stream_bytes"} 0`,
		`murder_bridge_mupdate_commands_total{command="FIND",result="missing"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(m, "murder_bridge_registry_errors_total{") {
		t.Errorf("registry errors counted:\n%s", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
