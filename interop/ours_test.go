package interop

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
)

// ourConfig is murder-bridge's MUPDATE server as `murder-bridge serve`
// assembles it (cmd/murder-bridge, runDaemon): the registry adapter
// (package bridge), wrapped by Wrap (follow mode's guard, cutover's
// write-through), served by mupdateserver to the credentials file's users.
// The tests that need the whole daemon (flags, HTTP, GC) run the binary.
type ourConfig struct {
	Store       registry.Store
	Listener    net.Listener
	Credentials string
	Admins      []string
	// TLSCert and TLSKey enable STARTTLS; RequireTLS: PLAIN only after it.
	TLSCert, TLSKey string
	RequireTLS      bool
	Logger          *slog.Logger
	// Server carries limits and timeouts; the rest is set here.
	Server mupdateserver.Config
	// Wrap, when set, wraps the adapter.
	Wrap func(mupdate.Backend) mupdate.Backend
	// ReplicatedBackends is --replicated-backends
	// (bridge.Adapter.ReplicatedBackends).
	ReplicatedBackends bool
}

// serveOurs serves MUPDATE until ctx ends, then shuts down gracefully (all
// connections get `* BYE` after their command in flight; 2 s at most).
func serveOurs(ctx context.Context, c ourConfig) error {
	cr, err := creds.Load(c.Credentials)
	if err != nil {
		return err
	}
	ad := bridge.New(c.Store)
	ad.Logger = c.Logger
	ad.ReplicatedBackends = c.ReplicatedBackends
	var b mupdate.Backend = ad
	if c.Wrap != nil {
		b = c.Wrap(b)
	}
	sc := c.Server
	sc.Backend, sc.Auth, sc.Admins, sc.RequireTLS = b, cr, c.Admins, c.RequireTLS
	sc.ServerName, sc.Impl, sc.Logger = "bridge.murdertest", "murder-bridge", c.Logger
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return err
		}
		sc.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := mupdateserver.New(sc)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, c.Listener) }()
	select {
	case err := <-served:
		if ctx.Err() == nil {
			srv.Close()
			return err
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return srv.Close()
}
