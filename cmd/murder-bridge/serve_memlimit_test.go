package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
)

// --etcd-memory-limit and its config key are read like any serve flag
// (flag > MURDER_BRIDGE_* > --config); a value that is not a GOMEMLIMIT
// size is a usage error naming where it came from.
func TestServeEtcdMemoryLimitConfig(t *testing.T) {
	d := t.TempDir()
	conf := filepath.Join(d, "bridge.conf")
	os.WriteFile(conf, []byte("etcd-member: a\netcd_memory_limit: 600MiB\n"), 0o600)
	resolved := func(args, environ []string) (int64, error) {
		t.Helper()
		o := &serveOptions{}
		cmd := newServeCmdWith(o)
		if err := cmd.ParseFlags(args); err != nil {
			return 0, err
		}
		err := o.resolve(cmd, environ)
		return int64(o.etcdMemoryLimit), err
	}
	for _, c := range []struct {
		name          string
		args, environ []string
		want          int64
	}{
		{"absent", nil, nil, 0},
		{"config file", []string{"--config", conf}, nil, 600 << 20},
		{"environment over the file", []string{"--config", conf}, []string{"MURDER_BRIDGE_ETCD_MEMORY_LIMIT=1GiB"}, 1 << 30},
		{"flag over both", []string{"--config", conf, "--etcd-memory-limit", "2GiB"}, []string{"MURDER_BRIDGE_ETCD_MEMORY_LIMIT=1GiB"}, 2 << 30},
		{"zero: none", []string{"--etcd-memory-limit", "0"}, nil, 0},
	} {
		got, err := resolved(c.args, c.environ)
		if err != nil || got != c.want {
			t.Errorf("%s: limit %d, %v; want %d", c.name, got, err, c.want)
		}
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
	for _, v := range []string{"lots", "1.5GiB", "-600MiB", "600 MiB"} {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs([]string{"serve", "--credentials", "/nonexistent", "--etcd-memory-limit", v})
		err := root.Execute()
		if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "--etcd-memory-limit") {
			t.Errorf("--etcd-memory-limit %q: %v (exit %d)", v, err, exitcode.Of(err))
		}
	}
}

// The limit is the process's Go memory limit (debug.SetMemoryLimit)
// while a bridge runs an embedded member; it is left alone without a
// member, and when GOMEMLIMIT is in the environment.
func TestServeEtcdMemoryLimitApplied(t *testing.T) {
	prevLimit, prevGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(-1)
	debug.SetGCPercent(prevGC)
	t.Cleanup(func() { debug.SetMemoryLimit(prevLimit); debug.SetGCPercent(prevGC) })
	d := t.TempDir()
	creds := filepath.Join(d, "credentials")
	os.WriteFile(creds, []byte("murder:murderpw\n"), 0o600)

	// serve runs `serve ARGS` (parsed and resolved as the command does)
	// until its MUPDATE port answers, and answers the memory limit then.
	serve := func(args ...string) int64 {
		t.Helper()
		debug.SetMemoryLimit(math.MaxInt64) // Go's default: none
		o := &serveOptions{}
		cmd := newServeCmdWith(o)
		listen := freeAddr(t)
		if err := cmd.ParseFlags(append([]string{"--credentials", creds, "--listen", listen}, args...)); err != nil {
			t.Fatal(err)
		}
		if err := o.resolve(cmd, nil); err != nil {
			t.Fatal(err)
		}
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
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
		limit := debug.SetMemoryLimit(-1)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve %v: %v", args, err)
		}
		return limit
	}
	member := func(name string, extra ...string) []string {
		return append([]string{"--etcd-member", name, "--data-dir", filepath.Join(d, name),
			"--etcd-peer-url", "http://" + freeAddr(t), "--etcd-client-url", "http://" + freeAddr(t)}, extra...)
	}
	t.Setenv("GOMEMLIMIT", "")
	if got := serve(member("a", "--etcd-memory-limit", "600MiB")...); got != 600<<20 {
		t.Errorf("embedded member with --etcd-memory-limit 600MiB: Go memory limit %d, want %d", got, 600<<20)
	}
	if got := serve(member("b")...); got != math.MaxInt64 {
		t.Errorf("embedded member without --etcd-memory-limit: Go memory limit %d, want none", got)
	}
	if got := serve("--registry", "leveldb://"+filepath.Join(d, "reg"), "--etcd-memory-limit", "600MiB"); got != math.MaxInt64 {
		t.Errorf("leveldb registry (no member) with --etcd-memory-limit: Go memory limit %d, want none", got)
	}
	// the runtime read GOMEMLIMIT at start; the flag must not override it
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := serve(member("c", "--etcd-memory-limit", "600MiB")...); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT in the environment and --etcd-memory-limit: Go memory limit %d, want the runtime's own", got)
	}
}
