package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
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

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/saslauthd"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// The daemon on a leveldb registry URL: clients log in with the
// credentials file, only admins write, and when the context ends a
// streaming UPDATE client gets * BYE and runDaemon returns nil.
func TestDaemonGracefulStop(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "creds")
	os.WriteFile(cf, []byte("murder:murderpw\nreader:readerpw\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runDaemon(ctx, daemonConfig{Registry: "leveldb://" + filepath.Join(dir, "reg"), Listener: ln, Credentials: cf,
			Admins: []string{"murder"}, ServerName: "t", ShutdownTimeout: 5 * time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	until := func(p string) string {
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", p, err)
			}
			if strings.HasPrefix(l, p) {
				return l
			}
		}
	}
	until("* OK")
	fmt.Fprintf(c, "A01 AUTHENTICATE \"PLAIN\" \"%s\"\r\n", base64.StdEncoding.EncodeToString([]byte("\x00murder\x00murderpw")))
	until("A01 OK")
	fmt.Fprintf(c, "R1 RESERVE \"user.x\" \"h!p\"\r\nU01 UPDATE\r\n")
	until("R1 OK")
	until("U01 RESERVE")
	until(`U01 OK "streaming starts"`)
	cancel()
	if l := until("* BYE"); !strings.Contains(l, "shutting down") {
		t.Errorf("got %q", l)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runDaemon = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runDaemon did not return")
	}
}

func TestDaemonUsageErrors(t *testing.T) {
	ctx := context.Background()
	if err := runDaemon(ctx, daemonConfig{}); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("no credentials: %v (exit %d)", err, exitcode.Of(err))
	}
	if err := runDaemon(ctx, daemonConfig{Credentials: "/nonexistent/creds"}); exitcode.Of(err) != exitcode.Input {
		t.Errorf("missing credentials file: %v (exit %d)", err, exitcode.Of(err))
	}
	cf := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(cf, []byte("a:b\n"), 0o600)
	if err := runDaemon(ctx, daemonConfig{Credentials: cf, RequireTLS: true}); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("--require-tls without a certificate: %v", err)
	}
	if err := runDaemon(ctx, daemonConfig{Credentials: cf, Registry: "nosuch://x"}); exitcode.Of(err) != exitcode.Registry {
		t.Errorf("unknown registry scheme: %v", err)
	}
	// saslauthd would accept anyone it knows: who may write must be said
	if err := runDaemon(ctx, daemonConfig{Saslauthd: &saslauthd.Client{}}); exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "--admins") {
		t.Errorf("saslauthd without admins: %v", err)
	}
	// a zero tombstone age would drop the guard against replays at once
	if _, err := (serveOptions{credentials: cf, tombstoneGCInterval: time.Minute}).config(); exitcode.Of(err) != exitcode.Usage ||
		!strings.Contains(err.Error(), "--tombstone-age") {
		t.Errorf("--tombstone-age 0: %v", err)
	}
	if _, err := (serveOptions{credentials: cf, tombstoneAge: time.Hour, tombstoneGCInterval: -time.Minute}).config(); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("negative --tombstone-gc-interval: %v", err)
	}
}

// Tombstone GC runs in `serve`, set by --config and MURDER_BRIDGE_* as any
// flag: a mailbox deleted over MUPDATE leaves a tombstone that the HTTP API
// shows, the GC removes it once it is older than --tombstone-age (not
// before) and counts it in /metrics. Entries flagged deleted (mbtype "d",
// Cyrus's own tombstones, imported; a rename leaves one sharing its
// uniqueid with the live mailbox) are registry entries, never collected.
func TestServeCollectsTombstones(t *testing.T) {
	dir := t.TempDir()
	regDir := filepath.Join(dir, "reg")
	st, err := leveldb.Open(context.Background(), regDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	renamed := mbox("user.fred.New", 0, "fred", "lrswipkxtecdan")
	renamed.UniqueID = "u-renamed"
	cyrusTomb := mbox("user.fred.Old", mboxlist.FlagDeleted, "fred", "lrswipkxtecdan")
	cyrusTomb.UniqueID = "u-renamed"
	if _, err := st.Import(context.Background(), []registry.Entry{renamed, cyrusTomb}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("murder:murderpw\n"), 0o600)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok\n"), 0o600)
	const age = 1500 * time.Millisecond
	conf := filepath.Join(dir, "bridge.conf")
	os.WriteFile(conf, []byte("tombstone-age: 1500ms\n"), 0o600)
	o := &serveOptions{}
	cmd := newServeCmdWith(o)
	httpA, mupA := freeAddr(t), freeAddr(t)
	if err := cmd.ParseFlags([]string{"--registry", "leveldb://" + regDir, "--listen", mupA, "--credentials", creds,
		"--http", httpA, "--http-token-file", tokenFile, "--config", conf}); err != nil {
		t.Fatal(err)
	}
	if err := o.resolve(cmd, []string{"MURDER_BRIDGE_TOMBSTONE_GC_INTERVAL=100ms"}); err != nil {
		t.Fatal(err)
	}
	if o.tombstoneAge != age || o.tombstoneGCInterval != 100*time.Millisecond {
		t.Fatalf("resolved --tombstone-age %v --tombstone-gc-interval %v", o.tombstoneAge, o.tombstoneGCInterval)
	}
	o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, *o) }()
	base := "http://" + httpA
	waitHTTP(t, base+"/healthz")

	// get answers the HTTP status of /v1/mailboxes/NAME and its tombstone.
	get := func(name string) (int, *registry.Tombstone) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/mailboxes/"+name, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb httpapi.ErrorBody
		if resp.StatusCode == http.StatusNotFound {
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, eb.Tombstone
	}
	collected := func() string {
		t.Helper()
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "murder_bridge_registry_tombstones_collected_total "); ok {
				return v
			}
		}
		return "absent"
	}
	if got := collected(); got != "0" {
		t.Fatalf("collected before any delete: %s", got)
	}

	c, err := mupdateclient.Dial(ctx, mupA, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "murder", "murderpw", "PLAIN"); err != nil {
		t.Fatal(err)
	}
	if err := c.Activate(ctx, "user.gone", "be1!default", "gone\tlrswipkxtecda\t"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "user.gone"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	code, tomb := get("user.gone")
	if code != http.StatusNotFound || tomb == nil {
		t.Fatalf("right after DELETE: %d, tombstone %v; want 404 with the tombstone", code, tomb)
	}
	var held time.Duration // how long the tombstone was kept, as first seen gone
	eventually.True(t, 20*time.Second, "the tombstone collected after the delete", func() bool {
		code, tomb = get("user.gone")
		held = time.Since(deleted)
		return tomb == nil
	})
	if held < age {
		t.Errorf("tombstone removed %v after the delete, before --tombstone-age %v", held, age)
	}
	if code != http.StatusNotFound {
		t.Errorf("user.gone after GC: %d", code)
	}
	if got := collected(); got != "1" {
		t.Errorf("murder_bridge_registry_tombstones_collected_total = %s, want 1", got)
	}
	// Cyrus's tombstone entry and the live mailbox it shares a uniqueid
	// with are untouched
	for _, n := range []string{"user.fred.Old", "user.fred.New"} {
		if code, _ := get(n); code != http.StatusOK {
			t.Errorf("%s after GC: %d, want 200", n, code)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve = %v", err)
	}
}
