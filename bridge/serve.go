package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/mupdate/saslauthd"
	"github.com/murderkit/murderkit/mupdate/sasldb"
	"github.com/murderkit/murderkit/registry"
)

// DefaultDataDir holds the default leveldb registry (DataDir/registry).
const DefaultDataDir = "/var/lib/murder-bridge"

// DefaultListen is the IANA mupdate port on every interface: backends and
// frontends on other hosts must reach a master.
const DefaultListen = ":3905"

// Config is what `murder-bridge serve` runs. Later issues add follow mode
// and the HTTP listener here (see Run's seams).
type Config struct {
	// Registry is the registry URL (leveldb:///DIR, etcd://...). Empty:
	// leveldb under DataDir/registry. The URL's backend must be linked into
	// the program (registry/backends).
	Registry string
	// DataDir is where the default leveldb registry lives.
	DataDir string
	// Store, when set, is used instead of opening Registry (tests, embedding);
	// Run does not close it.
	Store registry.Store

	// Listen is the MUPDATE address (default DefaultListen).
	Listen string
	// Listener, when set, is used instead of listening on Listen.
	Listener net.Listener
	// Credentials is the credentials file (design.md: `name:secret` lines).
	// Required unless Saslauthd is set.
	Credentials string
	// Saslauthd, when set, checks PLAIN passwords the credentials file
	// does not accept (imapd.conf's `sasl_pwcheck_method: saslauthd`).
	// SCRAM is then offered only for the credentials file's users, and
	// not at all without a credentials file; Admins must be given.
	Saslauthd *saslauthd.Client
	// Sasldb, when set, is the sasldb2 file whose userPassword entries
	// check passwords (imapd.conf's `sasl_pwcheck_method: auxprop` with
	// the sasldb plugin), after the credentials file and before
	// saslauthd; Admins must be given.
	Sasldb string
	// SasldbRealm is the realm of logins without '@' (Cyrus: its
	// servername; default ServerName, then the host name).
	SasldbRealm string
	// Admins may write; empty means every identity in the credentials file.
	Admins []string
	// RequireTLS: PLAIN only after STARTTLS.
	RequireTLS bool
	// TLSCert and TLSKey (PEM files) enable STARTTLS.
	TLSCert, TLSKey string
	// ServerName is the name in the banner (default: the host name).
	ServerName string

	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful stop after ctx ends: connections
	// get `* BYE` once their command in flight has finished; whatever is
	// still open then is closed. Default 10 s.
	ShutdownTimeout time.Duration
	// Ready, when set, is called with the MUPDATE address once it accepts.
	Ready func(net.Addr)

	// Server is passed through to the MUPDATE server (limits, timeouts);
	// its Backend, Auth, Admins, TLS and banner fields are set by Run.
	Server mupdateserver.Config
	// OnServer, when set, is called with the MUPDATE server once it is
	// made, before it serves (metrics read its Stats).
	OnServer func(*mupdateserver.Server)

	// Extend, when set, is called once the registry is open, before MUPDATE
	// is served: it returns the backend to serve (b, or b wrapped: follow
	// mode's write guard, metrics) and, optionally, work to run beside the
	// server until ctx ends (follow mode, the operator HTTP listener). An
	// error from that work while ctx is live stops the daemon with it.
	Extend func(ctx context.Context, st registry.Store, b mupdate.Backend) (mupdate.Backend, func(context.Context) error, error)
}

// Run serves MUPDATE from the registry until ctx ends, then stops
// gracefully. Errors carry exit statuses (internal/exitcode): a bad
// credentials file or TLS files → Usage/Input, the registry → Registry,
// the listener → Network.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Credentials == "" && cfg.Saslauthd == nil && cfg.Sasldb == "" {
		return exitcode.With(exitcode.Usage, errors.New("--credentials FILE is required: MUPDATE clients must authenticate (or sasl_pwcheck_method: saslauthd or auxprop with sasldb)"))
	}
	var cr *creds.Store
	var auth mupdateserver.Authenticator
	var err error
	if cfg.Credentials != "" {
		if cr, err = creds.Load(cfg.Credentials); err != nil {
			return exitcode.With(exitcode.Input, err)
		}
		auth = cr
	}
	admins := cfg.Admins
	if cfg.Saslauthd != nil {
		if len(admins) == 0 {
			return exitcode.With(exitcode.Usage, errors.New("with saslauthd checking passwords, --admins (or admins in --imapd-conf) is required: otherwise every identity saslauthd accepts could write"))
		}
		auth = &saslauthd.Auth{Client: cfg.Saslauthd, Store: cr}
		path := cfg.Saslauthd.Path
		if path == "" {
			path = saslauthd.DefaultPath
		}
		log.Info("murder-bridge: PLAIN passwords checked by saslauthd", "socket", path, "credentials_file", cfg.Credentials != "")
	}
	if cfg.Sasldb != "" {
		if len(admins) == 0 {
			return exitcode.With(exitcode.Usage, errors.New("with sasldb checking passwords, --admins (or admins in --imapd-conf) is required: otherwise every user in sasldb could write"))
		}
		f, err := sasldb.Open(ctx, cfg.Sasldb)
		if err != nil {
			return exitcode.With(exitcode.Input, fmt.Errorf("sasl_sasldb_path: %w (is it readable by this user?)", err))
		}
		realm := cfg.SasldbRealm
		if realm == "" {
			realm = cfg.ServerName
		}
		if realm == "" {
			realm, _ = os.Hostname()
		}
		sa := &sasldb.Auth{File: f, Realm: realm, Store: cr}
		if v, ok := auth.(sasldb.Verifier); ok && cfg.Saslauthd != nil {
			sa.Next = v
		}
		auth = sa
		log.Info("murder-bridge: passwords checked in sasldb", "file", f.Path, "realm", realm, "credentials_file", cfg.Credentials != "", "then_saslauthd", cfg.Saslauthd != nil)
	}
	if len(admins) == 0 {
		admins = cr.Names()
	}
	var tlsConf *tls.Config
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return exitcode.With(exitcode.Usage, errors.New("--tls-cert and --tls-key go together"))
		}
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return exitcode.With(exitcode.Input, fmt.Errorf("TLS key pair: %w", err))
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.RequireTLS && tlsConf == nil {
		return exitcode.With(exitcode.Usage, errors.New("--require-tls needs --tls-cert and --tls-key"))
	}

	st := cfg.Store
	if st == nil {
		url := cfg.Registry
		if url == "" {
			dir := cfg.DataDir
			if dir == "" {
				dir = DefaultDataDir
			}
			url = "leveldb://" + filepath.Join(dir, "registry")
		}
		st, err = registry.Open(ctx, url)
		if err != nil {
			return exitcode.With(exitcode.Registry, err)
		}
		defer st.Close()
	}

	sc := cfg.Server
	ad := New(st)
	ad.Logger = log
	sc.Backend = ad
	var beside func(context.Context) error
	if cfg.Extend != nil {
		sc.Backend, beside, err = cfg.Extend(ctx, st, sc.Backend)
		if err != nil {
			return err
		}
	}
	sc.Auth = auth
	sc.Admins = admins
	sc.TLSConfig = tlsConf
	sc.RequireTLS = cfg.RequireTLS
	if sc.ServerName == "" {
		sc.ServerName = cfg.ServerName
	}
	if sc.ServerName == "" {
		sc.ServerName, _ = os.Hostname()
	}
	if sc.Impl == "" {
		sc.Impl = "murder-bridge"
	}
	if sc.Logger == nil {
		sc.Logger = log
	}
	srv, err := mupdateserver.New(sc)
	if err != nil {
		return exitcode.With(exitcode.Usage, err)
	}
	if cfg.OnServer != nil {
		cfg.OnServer(srv)
	}

	ln := cfg.Listener
	if ln == nil {
		addr := cfg.Listen
		if addr == "" {
			addr = DefaultListen
		}
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return exitcode.With(exitcode.Network, err)
		}
	}
	log.Info("murder-bridge: serving MUPDATE", "listen", ln.Addr().String(), "admins", admins, "tls", tlsConf != nil, "require_tls", cfg.RequireTLS)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}

	// Work beside the server (Extend): follow mode, the HTTP listener.
	bctx, bstop := context.WithCancel(ctx)
	defer bstop()
	besideErr := make(chan error, 1)
	if beside != nil {
		go func() { besideErr <- beside(bctx) }()
	}

	sctx, sstop := context.WithCancel(ctx)
	defer sstop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(sctx, ln) }()
	select {
	case err := <-serveErr:
		if ctx.Err() == nil {
			srv.Close()
			return exitcode.With(exitcode.Network, err)
		}
	case err := <-besideErr:
		beside = nil // done: nothing to wait for below
		if ctx.Err() == nil && err != nil {
			sstop()
			<-serveErr
			srv.Close()
			return err
		}
		<-serveErr
	case <-ctx.Done():
		<-serveErr
	}
	// ctx has ended: the listener is closed; every connection ends after
	// its command in flight with `* BYE "server shutting down"`. Wait for
	// them, then close whatever is left.
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for srv.Conns() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := srv.Conns(); n > 0 {
		log.Warn("murder-bridge: closing connections still open after the shutdown timeout", "open", n)
	}
	srv.Close()
	bstop()
	if beside != nil {
		select {
		case <-besideErr:
		case <-time.After(timeout):
			log.Warn("murder-bridge: follow/HTTP work did not stop within the shutdown timeout")
		}
	}
	log.Info("murder-bridge: stopped")
	return nil
}
