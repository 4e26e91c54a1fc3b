package interop

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
	_ "github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// ourServer is murder-bridge's MUPDATE server (serveOurs, as `murder-bridge
// serve` assembles it) on a leveldb registry, on a free loopback port.
type ourServer struct {
	Addr  string
	Store registry.Store
	Logs  *lockedBuffer // the server's slog output
	stop  func() error
}

// startOurs starts the bridge with the lab's credentials (murder/murderpw,
// admin/adminpw, both admins). It is stopped by t.Cleanup.
func startOurs(t *testing.T) *ourServer {
	t.Helper()
	st, err := leveldb.Open(context.Background(), filepath.Join(t.TempDir(), "registry"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return startOursOn(t, st)
}

// startOursEtcd is startOurs on a real etcd (Debian's etcd-server, one
// member on loopback, started by registry/etcd/etcdtest).
func startOursEtcd(t *testing.T) *ourServer {
	t.Helper()
	c := etcdtest.Start(t, 1, &etcdtest.Options{FirstIP: 41})
	st, err := registry.Open(context.Background(), c.URL("/murder", ""))
	if err != nil {
		t.Fatal(err)
	}
	return startOursOn(t, st)
}

// startOursOn serves st; st is closed when the server stops. Each edit
// changes the bridge's configuration before it starts.
func startOursOn(t *testing.T, st registry.Store, edits ...func(*ourConfig)) *ourServer {
	t.Helper()
	dir := t.TempDir()
	cf := filepath.Join(dir, "credentials")
	if err := os.WriteFile(cf, []byte("murder:murderpw\nadmin:adminpw\nalice:alicepw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := ourConfig{
		Store: st, Listener: ln, Credentials: cf, Admins: []string{"murder", "admin"},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Server: mupdateserver.Config{FailedLoginPause: 100 * time.Millisecond},
	}
	for _, e := range edits {
		e(&cfg)
	}
	go func() { done <- serveOurs(ctx, cfg) }()
	o := &ourServer{Addr: ln.Addr().String(), Store: st, Logs: logs}
	var once bool
	o.stop = func() error {
		if once {
			return nil
		}
		once = true
		cancel()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			err = errors.New("the bridge did not return 10 s after its context ended")
		}
		st.Close()
		return err
	}
	t.Cleanup(func() {
		if err := o.stop(); err != nil {
			t.Errorf("stopping the bridge: %v", err)
		}
		if t.Failed() {
			t.Logf("murder-bridge log:\n%s", logs.String())
		}
	})
	return o
}

type lockedBuffer = murdertest.Buffer

func newTestLogger(w *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
