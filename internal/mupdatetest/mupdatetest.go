package mupdatetest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// Server is a running MUPDATE server.
type Server struct {
	*mupdateserver.Server
	Addr   string             // host:port it listens on (127.0.0.1)
	Cancel context.CancelFunc // ends Serve, as a SIGTERM does
	Done   <-chan struct{}    // closed when Serve has returned
	stop   sync.Once
}

// Start builds a server from cfg (a nil Logger logs nowhere) and serves it
// on a free port of 127.0.0.1 until the test ends or Stop is called.
func Start(t testing.TB, cfg mupdateserver.Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := mupdateserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	s := &Server{Server: srv, Addr: ln.Addr().String(), Cancel: cancel, Done: done}
	t.Cleanup(s.Stop)
	return s
}

// Stop cancels Serve, closes every connection and waits until Serve has
// returned. Calling it again does nothing.
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.Cancel()
		s.Server.Close()
		<-s.Done
	})
}
