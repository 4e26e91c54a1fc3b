package mupdatemetrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/mupdatemetrics"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// Through a real server on the wrapped backend: each command is counted
// under its documented name and result, the backend's failures are passed
// to the registry-error hook with their operation, and the server's own
// gauges and counters are exported under the names docs/operations.md
// lists.
func TestCommandsAndServerMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	var failed []string
	m := mupdatemetrics.New(reg, func(op string) { failed = append(failed, op) })
	cr, err := creds.Parse(strings.NewReader("murder:murderpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mupdateserver.New(mupdateserver.Config{Backend: m.Wrap(memory.New(nil)), Auth: cr, FailedLoginPause: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveServer(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	defer srv.Close()
	c, err := mupdateclient.Dial(ctx, ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "murder", "murderpw", "PLAIN"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reserve(ctx, "user.a", "be1!p"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reserve(ctx, "user.a", "be2!p"); err == nil {
		t.Fatal("conflicting RESERVE accepted")
	}
	if err := c.Delete(ctx, "user.a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Find(ctx, "user.a"); err != nil || ok {
		t.Fatalf("FIND after DELETE: %v %v", ok, err)
	}
	if err := c.List(ctx, "", func(mupdate.Mailbox) error { return nil }); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	counts := map[string]float64{} // "COMMAND/result"
	for _, mf := range mfs {
		have[mf.GetName()] = true
		if mf.GetName() != "murder_bridge_mupdate_commands_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range mt.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			counts[l["command"]+"/"+l["result"]] = mt.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"RESERVE/ok": 1, "RESERVE/no": 1, "DELETE/ok": 1, "FIND/missing": 1, "SNAPSHOT/ok": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("murder_bridge_mupdate_commands_total %s = %v, want %v (all: %v)", k, counts[k], n, counts)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("commands counted: %v, want %v", counts, want)
	}
	if len(failed) != 0 {
		t.Errorf("refusals counted as registry errors: %v", failed)
	}
	for _, name := range []string{"murder_bridge_mupdate_commands_total", "murder_bridge_mupdate_command_duration_seconds",
		"murder_bridge_mupdate_update_clients", "murder_bridge_mupdate_connections", "murder_bridge_mupdate_awaiting_login",
		"murder_bridge_mupdate_update_bytes", "murder_bridge_mupdate_update_bytes_peak"} {
		if !have[name] {
			t.Errorf("%s not exported", name)
		}
	}
}

// brokenBackend fails every write and lookup as a registry that cannot be
// reached does.
type brokenBackend struct{ *memory.Backend }

var errDown = errors.New("registry unavailable")

func (brokenBackend) Write(context.Context, mupdate.Request) error { return errDown }
func (brokenBackend) Lookup(context.Context, string) (mupdate.Mailbox, bool, error) {
	return mupdate.Mailbox{}, false, errDown
}

// A backend failure (not a refusal) goes to the registry-error hook with
// its operation and counts as result "error".
func TestBackendFailuresReachTheHook(t *testing.T) {
	reg := prometheus.NewRegistry()
	var failed []string
	m := mupdatemetrics.New(reg, func(op string) { failed = append(failed, op) })
	b := m.Wrap(brokenBackend{memory.New(nil)})
	ctx := context.Background()
	if err := b.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: "user.a", Location: "be1!p"}); !errors.Is(err, errDown) {
		t.Fatalf("Write = %v", err)
	}
	if _, _, err := b.Lookup(ctx, "user.a"); !errors.Is(err, errDown) {
		t.Fatalf("Lookup = %v", err)
	}
	if strings.Join(failed, ",") != "write,lookup" {
		t.Errorf("registry errors %v, want [write lookup]", failed)
	}
}
