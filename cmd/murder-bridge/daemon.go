package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/cutover"
	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/mupdatemetrics"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/mupdate/saslauthd"
	"github.com/murderkit/murderkit/mupdate/sasldb"
	"github.com/murderkit/murderkit/registry"
)

// defaultDataDir holds the default leveldb registry (DIR/registry).
const defaultDataDir = "/var/lib/murder-bridge"

// defaultListen is the IANA mupdate port on every interface: backends and
// frontends on other hosts must reach a master.
const defaultListen = ":3905"

// daemonConfig is what `murder-bridge serve` runs: its flags, checked and
// resolved (serveOptions.config), secrets read.
type daemonConfig struct {
	// Registry is the registry URL (leveldb:///DIR, etcd://...). Empty:
	// leveldb under DataDir/registry.
	Registry string
	// DataDir is where the default leveldb registry lives.
	DataDir string
	// Store, when set, is used instead of opening Registry (the embedded
	// etcd member); runDaemon does not close it.
	Store registry.Store

	// Listen is the MUPDATE address (default defaultListen).
	Listen string
	// Listener, when set, is used instead of listening on Listen (a socket
	// passed by cyrmaster or systemd).
	Listener net.Listener
	// Credentials is the credentials file (`name:secret` lines). Required
	// unless Saslauthd or Sasldb is set.
	Credentials string
	// Saslauthd, when set, checks PLAIN passwords the credentials file
	// does not accept (imapd.conf's `sasl_pwcheck_method: saslauthd`).
	// SCRAM is then offered only for the credentials file's users, and not
	// at all without a credentials file; Admins must be given.
	Saslauthd *saslauthd.Client
	// Sasldb, when set, is the sasldb2 file whose userPassword entries
	// check passwords (`sasl_pwcheck_method: auxprop` with the sasldb
	// plugin), after the credentials file and before saslauthd; Admins
	// must be given.
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
	// ReplicatedBackends accepts a replica backend's repeats of its
	// primary's writes (bridge.Adapter.ReplicatedBackends).
	ReplicatedBackends bool
	// Server carries the MUPDATE server's limits; its Backend, Auth,
	// Admins, TLS and banner fields are set by runDaemon.
	Server mupdateserver.Config

	// Follow, when set, mirrors an old Cyrus master (follow mode) and
	// writes cut-over slots through to it.
	Follow *followConfig
	// HTTP, when set, serves the operator HTTP listener.
	HTTP *httpConfig

	// TombstoneAge is how long registry tombstones are kept;
	// TombstoneGCEvery is the pause between two collections (0: never
	// collected).
	TombstoneAge, TombstoneGCEvery time.Duration

	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful stop after ctx ends: connections
	// get `* BYE` once their command in flight has finished; whatever is
	// still open then is closed. Default 10 s.
	ShutdownTimeout time.Duration
}

// followConfig is follow mode: the old master and the write-through queue.
type followConfig struct {
	Addr, User, Password, Mech string
	StartTLS                   bool
	QueueDir                   string
}

// httpConfig is the operator HTTP listener.
type httpConfig struct {
	Addr   string
	Token  string
	MaxLag time.Duration
	// OpenFrom: the networks of --http-health-from, --http-metrics-from
	// and --http-auth-from (nil: loopback)
	OpenFrom [3][]netip.Prefix
}

// runDaemon is the composition root of `murder-bridge serve`: it builds the
// daemon from its parts and runs it until ctx ends, then stops gracefully.
//
//	registry → adapter (package bridge) → follow guard → write-through
//	(package cutover) → metrics → MUPDATE server
//
// beside which run the background loops: the follower, the write-through
// queue, the operator HTTP listener and the tombstone GC. An error from a
// loop while ctx is live stops the daemon with it. Errors carry the exit
// statuses of internal/exitcode.
func runDaemon(ctx context.Context, cfg daemonConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	auth, admins, err := mupdateAuth(ctx, cfg, log)
	if err != nil {
		return err
	}
	tlsConf, err := mupdateTLS(cfg)
	if err != nil {
		return err
	}

	// The registry.
	st := cfg.Store
	if st == nil {
		url := cfg.Registry
		if url == "" {
			dir := cfg.DataDir
			if dir == "" {
				dir = defaultDataDir
			}
			url = "leveldb://" + filepath.Join(dir, "registry")
		}
		st, err = registry.Open(ctx, url)
		if err != nil {
			return exitcode.With(exitcode.Registry, err)
		}
		defer st.Close()
	}

	// The backend MUPDATE serves, innermost first, and the loops beside it.
	var loops []func(context.Context) error
	adapter := bridge.New(st)
	adapter.Logger = log
	adapter.ReplicatedBackends = cfg.ReplicatedBackends
	var backend mupdate.Backend = adapter
	var followStatus httpapi.FollowStatus             // nil unless following
	var writeThroughStatus httpapi.WriteThroughStatus // likewise
	if fc := cfg.Follow; fc != nil {
		f, err := follow.New(follow.Config{Addr: fc.Addr, User: fc.User, Password: fc.Password, Mech: fc.Mech,
			StartTLS: fc.StartTLS, Store: st, Logger: log})
		if err != nil {
			return exitcode.With(exitcode.Usage, err)
		}
		// writes outside cut-over slots are the old master's
		backend = f.Guard(backend)
		followStatus = f
		loops = append(loops, f.Run)
		// slots in cutover: the bridge is authoritative and writes every
		// change through to the old master
		wt, err := cutover.New(cutover.Config{Store: st, Addr: fc.Addr, User: fc.User, Password: fc.Password,
			Mech: fc.Mech, StartTLS: fc.StartTLS, QueueDir: fc.QueueDir, Logger: log})
		if err != nil {
			return exitcode.With(exitcode.Input, err)
		}
		backend = wt.Wrap(backend)
		writeThroughStatus = wt
		loops = append(loops, func(ctx context.Context) error {
			defer wt.Close()
			return wt.Run(ctx)
		})
		log.Info("murder-bridge: following a mupdate master", "master", fc.Addr, "user", fc.User)
	}
	var hs *httpapi.Server
	var mupdateMetrics *mupdatemetrics.Metrics
	if hc := cfg.HTTP; hc != nil {
		hs, err = httpapi.New(httpapi.Config{Store: st, Follow: followStatus, WriteThrough: writeThroughStatus,
			Token: hc.Token, MaxLag: hc.MaxLag, Logger: log,
			HealthFrom: hc.OpenFrom[0], MetricsFrom: hc.OpenFrom[1], AuthFrom: hc.OpenFrom[2]})
		if err != nil {
			return exitcode.With(exitcode.Usage, err)
		}
		m := hs.Metrics()
		mupdateMetrics = mupdatemetrics.New(m.Registry, m.RegistryError)
		backend = mupdateMetrics.Wrap(backend)
	}

	// The MUPDATE server.
	sc := cfg.Server
	sc.Backend = backend
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
	if mupdateMetrics != nil {
		mupdateMetrics.ObserveServer(srv)
	}

	// The operator HTTP listener.
	var hln net.Listener
	if hs != nil {
		hln, err = net.Listen("tcp", httpAddr(cfg.HTTP.Addr))
		if err != nil {
			return exitcode.With(exitcode.Network, fmt.Errorf("--http: %w", err))
		}
		log.Info("murder-bridge: serving HTTP", "listen", hln.Addr().String(), "registry_api", cfg.HTTP.Token != "")
		loops = append(loops, func(ctx context.Context) error {
			if err := hs.Serve(ctx, hln); err != nil && ctx.Err() == nil {
				return exitcode.With(exitcode.Network, fmt.Errorf("HTTP: %w", err))
			}
			return nil
		})
	}

	// Tombstone GC.
	if cfg.TombstoneGCEvery > 0 {
		collected := prometheus.NewCounter(prometheus.CounterOpts{
			Name: "murder_bridge_registry_tombstones_collected_total",
			Help: "Registry tombstones removed by the GC (older than --tombstone-age).",
		})
		if hs != nil {
			hs.Metrics().Registry.MustRegister(collected)
		}
		loops = append(loops, func(ctx context.Context) error {
			registry.GCLoop(ctx, st, cfg.TombstoneAge, cfg.TombstoneGCEvery, log, func(n int) { collected.Add(float64(n)) })
			return nil
		})
		log.Info("murder-bridge: tombstone GC", "age", cfg.TombstoneAge, "every", cfg.TombstoneGCEvery)
	}

	// The MUPDATE listener.
	ln := cfg.Listener
	if ln == nil {
		addr := cfg.Listen
		if addr == "" {
			addr = defaultListen
		}
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			if hln != nil {
				hln.Close()
			}
			return exitcode.With(exitcode.Network, err)
		}
	}
	log.Info("murder-bridge: serving MUPDATE", "listen", ln.Addr().String(), "admins", admins, "tls", tlsConf != nil, "require_tls", cfg.RequireTLS, "replicated_backends", cfg.ReplicatedBackends)
	return serveUntilDone(ctx, srv, ln, loops, cfg.ShutdownTimeout, log)
}

// serveUntilDone serves MUPDATE on ln and runs the loops beside it until
// ctx ends, the server fails (exitcode.Network) or a loop fails (its
// error). When ctx ends, the loops see it at once and the server stops
// gracefully (Shutdown, at most timeout); then the loops are waited for
// (at most timeout again).
func serveUntilDone(ctx context.Context, srv *mupdateserver.Server, ln net.Listener, loops []func(context.Context) error,
	timeout time.Duration, log *slog.Logger) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	lctx, lstop := context.WithCancel(ctx)
	defer lstop()
	loopsErr := make(chan error, 1)
	go func() { loopsErr <- runAll(loops)(lctx) }()
	loopsDone := false

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx, ln) }()
	var failed error
	select {
	case err := <-serveErr:
		if ctx.Err() == nil {
			failed = exitcode.With(exitcode.Network, err)
		}
	case err := <-loopsErr:
		loopsDone = true
		if ctx.Err() == nil && err != nil {
			failed = err
			break
		}
		// the loops are done (there may be none): serve on
		select {
		case err := <-serveErr:
			if ctx.Err() == nil {
				failed = exitcode.With(exitcode.Network, err)
			}
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	if failed != nil {
		srv.Close()
		lstop()
		if !loopsDone {
			<-loopsErr
		}
		return failed
	}
	// ctx has ended: every connection ends after its command in flight
	// with `* BYE "server shutting down"`. Wait for them, then close
	// whatever is left.
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := srv.Shutdown(sctx)
	cancel()
	if err != nil {
		log.Warn("murder-bridge: closing connections still open after the shutdown timeout", "open", srv.Conns())
	}
	srv.Close()
	lstop()
	if !loopsDone {
		select {
		case <-loopsErr:
		case <-time.After(timeout):
			log.Warn("murder-bridge: follow/HTTP work did not stop within the shutdown timeout")
		}
	}
	log.Info("murder-bridge: stopped")
	return nil
}

// mupdateAuth builds the MUPDATE password checks (credentials file, sasldb,
// saslauthd, in that order) and the admins.
func mupdateAuth(ctx context.Context, cfg daemonConfig, log *slog.Logger) (mupdateserver.Authenticator, []string, error) {
	if cfg.Credentials == "" && cfg.Saslauthd == nil && cfg.Sasldb == "" {
		return nil, nil, exitcode.With(exitcode.Usage, errors.New("--credentials FILE is required: MUPDATE clients must authenticate (or sasl_pwcheck_method: saslauthd or auxprop with sasldb)"))
	}
	var cr *creds.Store
	var auth mupdateserver.Authenticator
	var err error
	if cfg.Credentials != "" {
		if cr, err = creds.Load(cfg.Credentials); err != nil {
			return nil, nil, exitcode.With(exitcode.Input, err)
		}
		auth = cr
	}
	admins := cfg.Admins
	if cfg.Saslauthd != nil {
		if len(admins) == 0 {
			return nil, nil, exitcode.With(exitcode.Usage, errors.New("with saslauthd checking passwords, --admins (or admins in --imapd-conf) is required: otherwise every identity saslauthd accepts could write"))
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
			return nil, nil, exitcode.With(exitcode.Usage, errors.New("with sasldb checking passwords, --admins (or admins in --imapd-conf) is required: otherwise every user in sasldb could write"))
		}
		f, err := sasldb.Open(ctx, cfg.Sasldb)
		if err != nil {
			return nil, nil, exitcode.With(exitcode.Input, fmt.Errorf("sasl_sasldb_path: %w (is it readable by this user?)", err))
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
	return auth, admins, nil
}

// mupdateTLS loads the STARTTLS key pair, if any.
func mupdateTLS(cfg daemonConfig) (*tls.Config, error) {
	var tlsConf *tls.Config
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return nil, exitcode.With(exitcode.Usage, errors.New("--tls-cert and --tls-key go together"))
		}
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, exitcode.With(exitcode.Input, fmt.Errorf("TLS key pair: %w", err))
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.RequireTLS && tlsConf == nil {
		return nil, exitcode.With(exitcode.Usage, errors.New("--require-tls needs --tls-cert and --tls-key"))
	}
	return tlsConf, nil
}

// runAll runs every loop until ctx ends; the first error cancels the rest.
func runAll(loops []func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		var once sync.Once
		var first error
		for _, l := range loops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l(ctx); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}()
		}
		wg.Wait()
		return first
	}
}
