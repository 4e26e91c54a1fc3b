package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/bytesize"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/internal/memlimit"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
)

// --etcd-memory-limit and its config key are read like any serve flag
// (flag > MURDER_BRIDGE_* > --config); a value that is not a GOMEMLIMIT
// size is a usage error naming where it came from.
func TestServeEtcdMemoryLimitConfig(t *testing.T) {
	d := t.TempDir()
	conf := filepath.Join(d, "bridge.conf")
	os.WriteFile(conf, []byte("etcd-member: a\netcd_memory_limit: 600MiB\n"), 0o600)
	resolved := func(args, environ []string) (string, error) {
		t.Helper()
		o := &serveOptions{}
		cmd := newServeCmdWith(o)
		if err := cmd.ParseFlags(args); err != nil {
			return "", err
		}
		err := o.resolve(cmd, environ)
		return o.etcdMemoryLimit.String(), err
	}
	for _, c := range []struct {
		name          string
		args, environ []string
		want          string
	}{
		{"absent: auto", nil, nil, "auto"},
		{"config file", []string{"--config", conf}, nil, "600MiB"},
		{"environment over the file", []string{"--config", conf}, []string{"MURDER_BRIDGE_ETCD_MEMORY_LIMIT=1GiB"}, "1GiB"},
		{"auto from the environment over the file", []string{"--config", conf}, []string{"MURDER_BRIDGE_ETCD_MEMORY_LIMIT=auto"}, "auto"},
		{"flag over both", []string{"--config", conf, "--etcd-memory-limit", "2GiB"}, []string{"MURDER_BRIDGE_ETCD_MEMORY_LIMIT=1GiB"}, "2GiB"},
		{"auto flag over both", []string{"--config", conf, "--etcd-memory-limit", "auto"}, []string{"MURDER_BRIDGE_ETCD_MEMORY_LIMIT=1GiB"}, "auto"},
		{"zero: none", []string{"--etcd-memory-limit", "0"}, nil, "0"},
		{"zero from the environment: none", nil, []string{"MURDER_BRIDGE_ETCD_MEMORY_LIMIT=0"}, "0"},
	} {
		got, err := resolved(c.args, c.environ)
		if err != nil || got != c.want {
			t.Errorf("%s: limit %s, %v; want %s", c.name, got, err, c.want)
		}
	}
	auto := filepath.Join(d, "auto.conf")
	os.WriteFile(auto, []byte("etcd-memory-limit: auto\n"), 0o600)
	if got, err := resolved([]string{"--config", auto, "--etcd-memory-limit", "0"}, nil); err != nil || got != "0" {
		t.Errorf("0 on the command line over auto in the file: %s, %v", got, err)
	}

	bad := filepath.Join(d, "bad.conf")
	os.WriteFile(bad, []byte("# sizes are GOMEMLIMIT's\netcd-memory-limit: 600MB\n"), 0o600)
	_, err := resolved([]string{"--config", bad}, nil)
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), bad+":2") || !strings.Contains(err.Error(), "etcd-memory-limit") {
		t.Errorf("600MB in a config file: %v (exit %d)", err, exitcode.Of(err))
	}
	_, err = resolved(nil, []string{"MURDER_BRIDGE_ETCD_MEMORY_LIMIT=-1"})
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "MURDER_BRIDGE_ETCD_MEMORY_LIMIT") {
		t.Errorf("-1 in the environment: %v (exit %d)", err, exitcode.Of(err))
	}
	// on the command line, through the whole command tree as main runs it
	for _, v := range []string{"lots", "1.5GiB", "-600MiB", "600 MiB", "Auto", "auto "} {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs([]string{"serve", "--credentials", "/nonexistent", "--etcd-memory-limit", v})
		err := root.Execute()
		if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "--etcd-memory-limit") || !strings.Contains(err.Error(), "auto") {
			t.Errorf("--etcd-memory-limit %q: %v (exit %d)", v, err, exitcode.Of(err))
		}
	}
}

// The limit is the process's Go memory limit (debug.SetMemoryLimit)
// while a bridge runs an embedded member: by default (auto) one that
// follows the live heap, or a fixed one; it is left alone without a
// member, with 0, and when GOMEMLIMIT is in the environment. The mode is
// logged, and /metrics shows the limit (go_gc_gomemlimit_bytes).
func TestServeEtcdMemoryLimitApplied(t *testing.T) {
	prevLimit, prevGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(-1)
	debug.SetGCPercent(prevGC)
	t.Cleanup(func() { debug.SetMemoryLimit(prevLimit); debug.SetGCPercent(prevGC) })
	d := t.TempDir()
	creds := filepath.Join(d, "credentials")
	os.WriteFile(creds, []byte("murder:murderpw\n"), 0o600)

	// serve runs `serve ARGS` (parsed and resolved as the command does)
	// until its MUPDATE port answers, then runs while (if not nil), and
	// answers the memory limit then and what was logged.
	serve := func(while func(), args ...string) (int64, string) {
		t.Helper()
		// what the runtime reads at start: GOMEMLIMIT, or none
		start := int64(math.MaxInt64)
		if v := os.Getenv("GOMEMLIMIT"); v != "" {
			n, err := bytesize.Parse(v)
			if err != nil {
				t.Fatal(err)
			}
			start = n
		}
		debug.SetMemoryLimit(start)
		o := &serveOptions{}
		cmd := newServeCmdWith(o)
		listen := freeAddr(t)
		if err := cmd.ParseFlags(append([]string{"--credentials", creds, "--listen", listen}, args...)); err != nil {
			t.Fatal(err)
		}
		if err := o.resolve(cmd, nil); err != nil {
			t.Fatal(err)
		}
		var logs murdertest.Buffer
		o.logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- runServe(ctx, *o) }()
		if err := eventually.Wait(30*time.Second, func() error {
			select {
			case err := <-done:
				t.Fatalf("serve %v ended: %v", args, err)
			default:
			}
			c, err := mupdateclient.Dial(ctx, listen, nil)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			t.Fatalf("serve %v never answered: %v", args, err)
		}
		if while != nil {
			while()
		}
		limit := debug.SetMemoryLimit(-1)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve %v: %v", args, err)
		}
		return limit, logs.String()
	}
	member := func(name string, extra ...string) []string {
		return append([]string{"--etcd-member", name, "--data-dir", filepath.Join(d, name),
			"--etcd-peer-url", "http://" + freeAddr(t), "--etcd-client-url", "http://" + freeAddr(t)}, extra...)
	}
	logged := func(what, logs string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(logs, w) {
				t.Errorf("%s: log lacks %q:\n%s", what, w, logs)
			}
		}
	}
	t.Setenv("GOMEMLIMIT", "")
	got, logs := serve(nil, member("a", "--etcd-memory-limit", "600MiB")...)
	if got != 600<<20 {
		t.Errorf("embedded member with --etcd-memory-limit 600MiB: Go memory limit %d, want %d", got, 600<<20)
	}
	logged("600MiB", logs, "mode=fixed gomemlimit=600MiB")

	// the default: auto. While serving, a large allocation found live by
	// a GC raises the limit within a poll or two, and /metrics shows it.
	const big = 768 << 20
	httpAddr := freeAddr(t)
	var during, metric int64
	got, logs = serve(func() {
		during = debug.SetMemoryLimit(-1)
		buf := make([]byte, big)
		for i := 0; i < len(buf); i += 1 << 20 {
			buf[i] = 1
		}
		runtime.GC()
		if !eventually.WaitTrue(10*time.Second, func() bool {
			l := debug.SetMemoryLimit(-1)
			return l != math.MaxInt64 && l >= memlimit.Target(big)
		}) {
			t.Errorf("auto: the limit did not rise above a live allocation of %d within 10s: %d", big, debug.SetMemoryLimit(-1))
		}
		if err := eventually.Wait(10*time.Second, func() error {
			var err error
			metric, err = gomemlimitMetric("http://" + httpAddr + "/metrics")
			if err == nil && metric != debug.SetMemoryLimit(-1) {
				err = fmt.Errorf("go_gc_gomemlimit_bytes %d, process limit %d", metric, debug.SetMemoryLimit(-1))
			}
			return err
		}); err != nil {
			t.Errorf("auto: /metrics: %v", err)
		}
		runtime.KeepAlive(buf)
	}, member("b", "--http", httpAddr)...)
	if during == math.MaxInt64 || during < memlimit.Floor || during%(1<<20) != 0 {
		t.Errorf("embedded member, default auto: Go memory limit %d before the allocation, want at least %d", during, memlimit.Floor)
	}
	if got == math.MaxInt64 || got < memlimit.Target(big) {
		t.Errorf("embedded member, default auto: Go memory limit %d with %d live, want at least %d", got, big, memlimit.Target(big))
	}
	logged("auto", logs, "mode=auto", "Go memory limit follows the live heap")

	got, logs = serve(nil, member("c", "--etcd-memory-limit", "0")...)
	if got != math.MaxInt64 {
		t.Errorf("embedded member with --etcd-memory-limit 0: Go memory limit %d, want none", got)
	}
	logged("0", logs, "mode=none gomemlimit=none")
	if got, _ := serve(nil, "--registry", "leveldb://"+filepath.Join(d, "reg"), "--etcd-memory-limit", "600MiB"); got != math.MaxInt64 {
		t.Errorf("leveldb registry (no member) with --etcd-memory-limit: Go memory limit %d, want none", got)
	}
	if got, _ := serve(nil, "--registry", "leveldb://"+filepath.Join(d, "reg2")); got != math.MaxInt64 {
		t.Errorf("leveldb registry (no member), auto by default: Go memory limit %d, want none", got)
	}
	// the runtime read GOMEMLIMIT at start; neither a size nor auto
	// overrides it
	t.Setenv("GOMEMLIMIT", "1GiB")
	for i, v := range []string{"600MiB", "auto"} {
		got, logs := serve(nil, member(fmt.Sprintf("e%d", i), "--etcd-memory-limit", v)...)
		if got != 1<<30 {
			t.Errorf("GOMEMLIMIT in the environment and --etcd-memory-limit %s: Go memory limit %d, want the runtime's own", v, got)
		}
		logged("GOMEMLIMIT", logs, "GOMEMLIMIT of the environment wins", "mode=environment")
	}
}

// gomemlimitMetric reads go_gc_gomemlimit_bytes from a /metrics page.
func gomemlimitMetric(url string) (int64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go_gc_gomemlimit_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if f >= math.MaxInt64 {
				return math.MaxInt64, err // none: 9.223372036854776e+18
			}
			return int64(f), err
		}
	}
	return 0, fmt.Errorf("%s: no go_gc_gomemlimit_bytes", url)
}
