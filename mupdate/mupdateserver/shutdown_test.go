package mupdateserver_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/mupdatetest"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// A shutdown that lands right after a command's answer (between two reads)
// still reaches the client as `* BYE` at once, not after the idle timeout.
// The cancel is sent the moment the answer arrives, to hit the window between
// the answer and the next read deadline, many times over.
func TestShutdownBetweenCommandsSaysBye(t *testing.T) {
	st, err := creds.Parse(strings.NewReader(labCreds))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		srv := mupdatetest.Start(t, mupdateserver.Config{
			Backend: memory.New(nil), Auth: st, Admins: []string{"admin"},
			FailedLoginPause: -1, IdleTimeout: time.Minute,
		})

		c := dialRaw(t, srv.Addr)
		c.login("admin", "adminpw")
		c.send("N01 NOOP\r\n")
		c.until("N01 OK")
		srv.Cancel()
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		l, err := c.br.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "* BYE") {
			t.Fatalf("trial %d: after shutdown got %q, %v (after %v), want * BYE", i, l, err, time.Since(start))
		}
		srv.Stop()
		c.nc.Close()
	}
}

// slowBackend's writes wait for release and fail if their context ends
// first (as an etcd write does).
type slowBackend struct {
	*memory.Backend
	started, release chan struct{}
}

func (b *slowBackend) Write(ctx context.Context, req mupdate.Request) error {
	close(b.started)
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Backend.Write(ctx, req)
}

// A write in flight at shutdown finishes: the client gets OK for it, then
// BYE, and the change is stored.
func TestShutdownLetsWriteInFlightFinish(t *testing.T) {
	be := &slowBackend{Backend: memory.New(nil), started: make(chan struct{}), release: make(chan struct{})}
	ts := startServer(t, func(cfg *mupdateserver.Config) { cfg.Backend = be; cfg.IdleTimeout = time.Minute })
	c := dialRaw(t, ts.addr)
	c.login("admin", "adminpw")
	c.send("W01 ACTIVATE \"user.inflight\" \"be1!default\" \"\"\r\n")
	<-be.started
	ts.cancel() // SIGTERM while the write runs
	// the shutdown is under way: the listener is closed
	eventually.Nil(t, 5*time.Second, func() error {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			return nil
		}
		nc.Close()
		return errors.New("the server still accepts connections after the cancel")
	})
	close(be.release)
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := c.until("* BYE")
	if !strings.Contains(strings.Join(got, "\n"), "W01 OK") {
		t.Fatalf("in-flight write at shutdown: %q, want W01 OK then * BYE", got)
	}
	<-ts.done
	if _, ok, _ := be.Lookup(context.Background(), "user.inflight"); !ok {
		t.Fatal("the write answered OK is not stored")
	}
}

// Shutdown waits, as http.Server.Shutdown does: it returns only once the
// write in flight has been answered and every connection (an UPDATE stream
// and an idle one included) has had its `* BYE`; with its context over
// first it returns that context's error, and Serve returns ErrServerClosed.
func TestShutdownWaitsForConnections(t *testing.T) {
	be := &slowBackend{Backend: memory.New(nil), started: make(chan struct{}), release: make(chan struct{})}
	ts := startServer(t, func(cfg *mupdateserver.Config) { cfg.Backend = be; cfg.IdleTimeout = time.Minute })
	w := dialRaw(t, ts.addr)
	w.login("admin", "adminpw")
	u := dialRaw(t, ts.addr)
	u.login("murder", "murderpw")
	u.send("U01 UPDATE\r\n")
	u.until("U01 OK")
	idle := dialRaw(t, ts.addr)
	idle.login("admin", "adminpw")
	w.send("W01 ACTIVATE \"user.inflight\" \"be1!default\" \"\"\r\n")
	<-be.started

	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(short); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown with a write still in flight = %v, want context.DeadlineExceeded", err)
	}
	if n := ts.srv.Conns(); n != 1 {
		t.Errorf("after the first Shutdown %d connections open, want 1 (the writer)", n)
	}
	for _, c := range []*rawConn{u, idle} {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.until("* BYE")
	}
	returned := make(chan error, 1)
	go func() { returned <- ts.srv.Shutdown(context.Background()) }()
	select {
	case err := <-returned:
		t.Fatalf("Shutdown returned %v while a write was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(be.release)
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return 5 s after the last write finished")
	}
	w.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := strings.Join(w.until("* BYE"), "\n"); !strings.Contains(got, "W01 OK") {
		t.Fatalf("writer got %q, want W01 OK then * BYE", got)
	}
	if n := ts.srv.Conns(); n != 0 {
		t.Errorf("%d connections open after Shutdown returned", n)
	}
	select {
	case <-ts.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("the listener still accepts after Shutdown")
	}
}
