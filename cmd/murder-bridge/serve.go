package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/cmd/murder-bridge/internal/config"
	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/bytesize"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/internal/memlimit"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/mupdate/saslauthd"
	"github.com/murderkit/murderkit/mupdate/sasldb"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd" // etcd:// registries; embedded members
	"github.com/murderkit/murderkit/registry/etcd/member"
	_ "github.com/murderkit/murderkit/registry/leveldb" // leveldb:// registries
)

// serveOptions are the flags of `murder-bridge serve`.
type serveOptions struct {
	registry string
	dataDir  string
	// writeThroughQueue: the cutover queue's directory
	writeThroughQueue string
	listen            string
	credentials       string
	pwcheckMethod     string
	saslauthdPath     string
	auxpropPlugin     string
	sasldbPath        string
	sasldbRealm       string
	admins            string
	requireTLS        bool
	// replicatedBackends: accept a replica's repeats (bridge.Adapter)
	replicatedBackends bool
	tlsCert            string
	tlsKey             string
	serverName         string

	configFile string
	imapdConf  string

	follow             string
	followUser         string
	followPasswordFile string
	followMech         string
	followStartTLS     bool
	followPassword     string // from imapd.conf's mupdate_password (no flag)

	http          string
	httpTokenFile string
	httpOpen      [3]string // --http-health-from, --http-metrics-from, --http-auth-from
	readyMaxLag   time.Duration

	// registry tombstones: kept for tombstoneAge, collected every
	// tombstoneGCInterval (0: never)
	tombstoneAge        time.Duration
	tombstoneGCInterval time.Duration

	etcdMember         string
	etcdDir            string
	etcdPeerURL        string
	etcdClientURL      string
	etcdInitialCluster string
	etcdJoin           bool
	etcdPrefix         string
	etcdSnapshotCount  uint64
	etcdCatchUp        uint64
	etcdCompaction     int64
	etcdGOGC           int
	etcdMemoryLimit    memLimitFlag // auto (the default), a size, or 0: none

	// MUPDATE server limits (0: the server's defaults)
	maxConns          int
	maxUnauthPerAddr  int
	loginTimeout      time.Duration
	updateStreamMaxMB int64
	updateTotalMaxMB  int64

	logLevel  string
	logFormat string
	logSyslog bool
	logger    *slog.Logger // nil: from logLevel and logFormat, on stderr

	// listenFrom: "" (bind --listen), listenCyrus or listenSystemd
	listenFrom string
	// allowInsecureFiles: serve even if a secret file is readable by others
	allowInsecureFiles bool
}

func newServeCmd() *cobra.Command { return newServeCmdWith(&serveOptions{}) }

// newServeCmdWith binds the command's flags to o (tests read o back).
func newServeCmdWith(o *serveOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve --credentials FILE [--registry URL] [--listen ADDR] [--admins A,B] [--tls-cert F --tls-key F] [--http ADDR] [--follow HOST:PORT --follow-user U --follow-password-file F]",
		Short: "Serve MUPDATE (stand in for the Cyrus mupdate master) from the registry",
		Long: `serve answers Cyrus backends (RESERVE/ACTIVATE/DELETE from imapd and
ctl_mboxlist -m), frontends' mupdate slaves (UPDATE streams) and mupdatetest
exactly as a Cyrus 3.6 mupdate master does, with the registry as its list.

Clients authenticate with SASL PLAIN or SCRAM-SHA-1/256/512 against the
credentials file: one "name:secret" a line, the secret a plain password or
"{SCRAM-SHA-256}SALT$ITER$STOREDKEY$SERVERKEY". Identities in --admins may
write (as imapd.conf's admins on a Cyrus master); without --admins every
identity in the file may. PLAIN is accepted without TLS unless --require-tls.
--replicated-backends (off by default) is for backends that replicate in
pairs under one servername (sync_client/sync_server, both in the murder): a
replica repeats its primary's MUPDATE writes, and its RESERVE of a name held
at its own server and its DELETE of a name already deleted get OK instead of
NO (docs/mupdate.md, "Replicated backends").
Every write command is logged as one line (op, name, location, user, result).

FOLLOW MODE (the parallel run): --follow HOST:PORT mirrors an existing Cyrus
mupdate master into the registry: the full list, then live changes; after a
drop it reconnects with backoff and resynchronises from a fresh full list,
rewriting only what differs (vanished mailboxes are deleted, leaving
tombstones). Lag is the age of the last completed NOOP round trip (a NOOP
makes Cyrus flush its 5-second batch). While following, MUPDATE writes for
mailboxes the old master owns are refused with NO (slots in cutover are the
bridge's: their changes are written through to the old master, queued in
--write-through-queue while it is down and sent in order when it returns;
while anything is queued, creates in them are refused with NO "try later");
reads are served from the registry.

HTTP (off by default): --http ADDR serves /healthz, /readyz (registry
reachable, follow lag under --ready-max-lag), /metrics (Prometheus), the JSON
API (/v1/mailboxes/NAME, /v1/visible, /v1/slots, /v1/status) and nginx's mail
auth_http (/auth). ADDR without a host listens on loopback. Every /v1 read and
write needs the bearer token of --http-token-file (entries hold ACLs; visible
lists say who shares with whom); /healthz, /readyz, /metrics and /auth are
served without it to the networks of --http-health-from, --http-metrics-from
and --http-auth-from (default loopback) and with it to anyone.

SEVERAL BRIDGES: over one etcd registry (--registry etcd://...) every bridge
accepts writes and streams every change to its UPDATE clients. With
--etcd-member NAME each bridge runs a member of the etcd cluster itself (no
separate database): give every founding bridge the same
--etcd-initial-cluster "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,..."
and its own --etcd-peer-url/--etcd-client-url.

CONFIGURATION: every flag can also come from the environment
(MURDER_BRIDGE_<FLAG>, e.g. MURDER_BRIDGE_FOLLOW_USER), from --config FILE
("flag-name: value" lines, imapd.conf syntax) and, for the murder settings,
from an existing Cyrus imapd.conf (--imapd-conf: mupdate_server → --follow,
mupdate_authname or mupdate_username → --follow-user, mupdate_password,
force_sasl_client_mech → --follow-mech, sasl_pwcheck_method,
sasl_saslauthd_path, admins, tls_server_cert, tls_server_key). Precedence:
flags > environment > --config > --imapd-conf.

SASLAUTHD: with sasl_pwcheck_method saslauthd (imapd.conf or
--sasl-pwcheck-method) PLAIN passwords are checked by saslauthd over its
socket (service "mupdate", no realm, as Cyrus's mupdate asks); then
--credentials is optional (its users are checked first and keep SCRAM),
SCRAM is not offered without it, and --admins is required.

SASLDB: with sasl_pwcheck_method auxprop (Cyrus's default), the sasldb
auxprop plugin (sasl_auxprop_plugin sasldb or unset) and no --credentials,
passwords are the userPassword entries of sasl_sasldb_path (default
/etc/sasldb2, read-only, re-read when it changes); a login without '@' is
looked up in the realm of imapd.conf's servername (--sasldb-realm; default
--servername, then the host name), as libsasl does for Cyrus's mupdate.
PLAIN and SCRAM are offered; --admins is required. With --credentials the
file stands for the auxprop and sasldb is not read.

LIMITS: a connection must log in within --login-timeout (60s); at most
--max-unauth-per-addr (128) connections from one IP address may be waiting
to log in; when --max-conns (10000) are open, the oldest connection not yet
logged in is closed for a newcomer (logged-in backends and slaves never
are). An UPDATE client that does not read is dropped (* BYE, then it
reconnects and resyncs, as a Cyrus slave does) once the changes held for it
pass --update-stream-max-mib (32), or when all UPDATE clients together pass
--update-total-max-mib (256; the ones holding most go first). Each drop or
refusal is logged and counted in /metrics.

TOMBSTONES: a mailbox deleted leaves a registry tombstone (refusing a late
replay of the state before the delete); every --tombstone-gc-interval (1h;
0: never) those older than --tombstone-age (30 days) are removed and counted
in /metrics. Cyrus's own deleted entries (mbtype d, imported) are kept.

SIGTERM or SIGINT stop it gracefully: commands in flight finish, every
client (UPDATE streams included) gets * BYE, then it exits 0.`,
		Example: `  # the lab's murder user, as Cyrus backends send it (mupdate_authname/mupdate_password)
  echo 'murder:murderpw' > /etc/murder-bridge/credentials
  murder-bridge serve --registry leveldb:///var/lib/murder-bridge/registry \
      --listen 127.0.0.1:3905 --credentials /etc/murder-bridge/credentials --admins murder

  # then, on a backend: mupdate_server: bridgehost:3905 and
  /usr/lib/cyrus/bin/ctl_mboxlist -m

  # parallel run: follow the old master, with its settings taken from a
  # backend's imapd.conf, HTTP on loopback
  murder-bridge serve --credentials /etc/murder-bridge/credentials \
      --imapd-conf /etc/imapd.conf --http :8405 --listen :3906

  # one of three bridges, each an embedded etcd member
  murder-bridge serve --credentials /etc/murder-bridge/credentials --admins murder \
      --etcd-member a --etcd-peer-url http://10.0.0.1:2380 --etcd-client-url http://127.0.0.1:2379 \
      --etcd-initial-cluster a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.resolve(cmd, os.Environ()); err != nil {
				return err
			}
			o.listenFrom = listenSource(o.listen, os.Getenv, os.Getpid())
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			// SIGINT and SIGTERM end the root context (main).
			ctx := cmd.Context()
			if o.listenFrom == listenCyrus {
				// cyrmaster sends SIGHUP to its services when it rereads
				// cyrus.conf; they finish and it starts them again.
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, syscall.SIGHUP)
				defer stop()
			}
			return runServe(ctx, *o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.registry, "registry", "", "registry URL: leveldb:///DIR or etcd://HOST:PORT,.../PREFIX (default leveldb under --data-dir)")
	f.StringVar(&o.dataDir, "data-dir", defaultDataDir, "directory of the default leveldb registry (DIR/registry)")
	f.StringVar(&o.listen, "listen", defaultListen, "MUPDATE listen address; \"cyrus\": the socket Cyrus's master (cyrmaster) passes; \"systemd\": the socket of a systemd .socket unit (without --listen, taken from either when its environment says so)")
	f.StringVar(&o.credentials, "credentials", "", "credentials file: name:secret a line (required)")
	f.StringVar(&o.pwcheckMethod, "sasl-pwcheck-method", "", "how PLAIN passwords are checked, as imapd.conf's sasl_pwcheck_method: \"auxprop\" (the --credentials file, or sasldb without one), \"saslauthd\" (ask saslauthd), or both in order (default: the credentials file)")
	f.StringVar(&o.auxpropPlugin, "sasl-auxprop-plugin", "", "as imapd.conf's sasl_auxprop_plugin: only sasldb is read (default sasldb)")
	f.StringVar(&o.sasldbPath, "sasldb-path", "", "sasldb file, as imapd.conf's sasl_sasldb_path (default /etc/sasldb2)")
	f.StringVar(&o.sasldbRealm, "sasldb-realm", "", "realm of sasldb logins without '@', as imapd.conf's servername (default --servername, then the host name)")
	f.StringVar(&o.saslauthdPath, "saslauthd-path", "", "saslauthd's socket, as imapd.conf's sasl_saslauthd_path (default "+saslauthd.DefaultPath+")")
	f.StringVar(&o.admins, "admins", "", "comma-separated identities that may write (default: everyone in the credentials file)")
	f.BoolVar(&o.requireTLS, "require-tls", false, "accept PLAIN only after STARTTLS")
	f.BoolVar(&o.replicatedBackends, "replicated-backends", false, "backends replicate in pairs under one servername (sync_client/sync_server, both in the murder): answer OK to a replica's RESERVE of a name already held at its server and to its DELETE of a name already deleted, instead of NO (off: Cyrus 3.6.1's rules)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate for STARTTLS")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key for STARTTLS")
	f.StringVar(&o.serverName, "servername", "", "server name in the MUPDATE banner (default: the host name)")
	f.StringVar(&o.configFile, "config", "", "settings file: \"flag-name: value\" lines")
	f.StringVar(&o.imapdConf, "imapd-conf", "", "a Cyrus imapd.conf to take mupdate_*, admins, sasl_*, servername (sasldb realm) and tls_server_* from")
	f.StringVar(&o.follow, "follow", "", "follow (mirror) this Cyrus mupdate master, HOST:PORT")
	f.StringVar(&o.followUser, "follow-user", "", "user to authenticate to the followed master as (its mupdate_authname)")
	f.StringVar(&o.followPasswordFile, "follow-password-file", "", "file holding that user's password (one trailing newline stripped)")
	f.StringVar(&o.writeThroughQueue, "write-through-queue", "", "directory of the durable queue of changes for the followed master while slots are cut over (default: beside a leveldb registry, DIR.write-through-queue; else DATA-DIR/write-through-queue)")
	f.StringVar(&o.followMech, "follow-mech", "", "SASL mechanism towards the followed master (default: the strongest it offers)")
	f.BoolVar(&o.followStartTLS, "follow-starttls", false, "use STARTTLS towards the followed master")
	f.StringVar(&o.http, "http", "", "operator HTTP listen address (off by default; without a host: loopback)")
	f.StringVar(&o.httpTokenFile, "http-token-file", "", "file holding the bearer token every HTTP registry read and write needs (without it they are refused)")
	f.StringVar(&o.httpOpen[0], "http-health-from", "127.0.0.0/8,::1", "client networks served /healthz and /readyz without the token (comma-separated CIDRs or addresses; \"none\")")
	f.StringVar(&o.httpOpen[1], "http-metrics-from", "127.0.0.0/8,::1", "client networks served /metrics without the token (\"none\" for nobody)")
	f.StringVar(&o.httpOpen[2], "http-auth-from", "127.0.0.0/8,::1", "client networks served nginx's /auth without the token (\"none\" for nobody)")
	f.DurationVar(&o.readyMaxLag, "ready-max-lag", 30*time.Second, "follow lag above which /readyz answers 503")
	f.DurationVar(&o.tombstoneAge, "tombstone-age", registry.DefaultTombstoneAge, "how long a deleted mailbox's registry tombstone is kept (it refuses a replay of a state read before the delete)")
	f.DurationVar(&o.tombstoneGCInterval, "tombstone-gc-interval", time.Hour, "how often tombstones older than --tombstone-age are removed (0: never)")
	f.IntVar(&o.maxConns, "max-conns", 10000, "MUPDATE connections at most; when full, the oldest connection not logged in is closed for a newcomer")
	f.IntVar(&o.maxUnauthPerAddr, "max-unauth-per-addr", 128, "MUPDATE connections not logged in yet from one IP address at most")
	f.DurationVar(&o.loginTimeout, "login-timeout", time.Minute, "time a MUPDATE client has from connecting to logging in")
	f.Int64Var(&o.updateStreamMaxMB, "update-stream-max-mib", mupdateserver.DefaultStreamMaxBytes>>20, "MiB of changes held for one UPDATE client that does not keep up before it is dropped (it resyncs)")
	f.Int64Var(&o.updateTotalMaxMB, "update-total-max-mib", mupdateserver.DefaultStreamTotalBytes>>20, "MiB of changes held for all UPDATE clients together; past it the clients holding most are dropped")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error (debug adds a line per change followed)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json (slog)")
	f.BoolVar(&o.logSyslog, "log-syslog", false, "log to syslog (facility mail, tag murder-bridge, as Cyrus) instead of stderr")
	f.BoolVar(&o.allowInsecureFiles, "allow-insecure-files", false, "serve even if a credentials, password or token file is readable or writable by group or others (a warning is logged)")
	f.StringVar(&o.etcdMember, "etcd-member", "", "run an embedded etcd member of this name and use it as the registry")
	f.StringVar(&o.etcdDir, "etcd-dir", "", "the embedded member's data directory (default DATA-DIR/etcd)")
	f.StringVar(&o.etcdPeerURL, "etcd-peer-url", "http://127.0.0.1:2380", "the embedded member's peer URL (listen and advertise)")
	f.StringVar(&o.etcdClientURL, "etcd-client-url", "http://127.0.0.1:2379", "the embedded member's client URL (listen and advertise)")
	f.StringVar(&o.etcdInitialCluster, "etcd-initial-cluster", "", "NAME=PEER-URL,... of every founding member (default: this member alone)")
	f.BoolVar(&o.etcdJoin, "etcd-join", false, "join an existing cluster (after `etcdctl member add`)")
	f.StringVar(&o.etcdPrefix, "etcd-prefix", "/murder", "key prefix of the registry in the embedded cluster")
	f.Uint64Var(&o.etcdSnapshotCount, "etcd-snapshot-count", member.DefaultSnapshotCount, "the embedded member's raft entries between two snapshots to disk (at most this many are replayed into memory on restart)")
	f.Uint64Var(&o.etcdCatchUp, "etcd-catchup-entries", member.DefaultCatchUpEntries, "raft entries the embedded member keeps in memory for a slow follower (etcd's default 5000; each is a whole transaction, ~100 KB under a bulk import)")
	f.Int64Var(&o.etcdCompaction, "etcd-compaction-retention", member.DefaultCompactionRetention, "revisions of history the embedded cluster keeps (auto-compaction every 5 minutes; -1: never compact); a watch further behind starts over with a full List")
	f.IntVar(&o.etcdGOGC, "etcd-gogc", 50, "Go GC percent of a bridge running an embedded member (Go's default is 100; 50 measured ~20% less member memory, docs/scaling.md; an environment's GOGC wins; -1: Go's default)")
	o.etcdMemoryLimit = memLimitFlag{auto: true}
	f.Var(&o.etcdMemoryLimit, "etcd-memory-limit", "Go memory limit of a bridge running an embedded member: \"auto\" follows the member's live heap (4/3 of the heap live after the last GC plus 64MiB, at least 256MiB, re-read every second: ~0.86 GB per million mailboxes measured, docs/scaling.md), a fixed size as GOMEMLIMIT (600MiB, 2GiB: it must stay above ~1.3 x the live key index, so raise it as the registry grows), or 0: none; an environment's GOMEMLIMIT wins")
	return cmd
}

// resolve fills unset flags from the environment, --config and --imapd-conf.
func (o *serveOptions) resolve(cmd *cobra.Command, environ []string) error {
	fs := cmd.Flags()
	env := config.FromEnv(environ)
	// --config and --imapd-conf may themselves come from the environment
	for _, k := range []string{"config", "imapd-conf"} {
		if v, ok := env.Values[k]; ok && !fs.Changed(k) {
			if err := fs.Set(k, v); err != nil {
				return exitcode.With(exitcode.Usage, err)
			}
		}
	}
	layers := []config.Layer{env}
	if o.configFile != "" {
		l, err := config.ParseFile(o.configFile)
		if err != nil {
			return exitcode.With(exitcode.Usage, err)
		}
		layers = append(layers, l)
		if v, ok := l.Values["imapd-conf"]; ok && o.imapdConf == "" {
			o.imapdConf = v // named in the config file
		}
	}
	if o.imapdConf != "" {
		l, err := config.ImapdConf(o.imapdConf)
		if err != nil {
			return exitcode.With(exitcode.Usage, err)
		}
		layers = append(layers, l)
	}
	r, err := config.Apply(fs, []string{"follow-password"}, layers...)
	if err != nil {
		return exitcode.With(exitcode.Usage, err)
	}
	if pw, _, ok := r.Lookup("follow-password"); ok && o.followPasswordFile == "" {
		o.followPassword = pw
	}
	return nil
}

// runServe is serve without cobra and signals: it runs until ctx ends.
func runServe(ctx context.Context, o serveOptions) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	if o.etcdMember == "" {
		return runDaemon(ctx, cfg)
	}
	// embedded member: this bridge is a member of the registry's cluster
	if o.registry != "" {
		return exitcode.With(exitcode.Usage, errors.New("--etcd-member makes the registry: drop --registry"))
	}
	dir := o.etcdDir
	if dir == "" {
		dd := o.dataDir
		if dd == "" {
			dd = defaultDataDir
		}
		dir = filepath.Join(dd, "etcd")
	}
	if o.etcdGOGC > 0 && os.Getenv("GOGC") == "" {
		// The member's key index lives in this process's heap: Go's
		// default lets the heap grow to twice what is live.
		debug.SetGCPercent(o.etcdGOGC)
	}
	// The member's key index lives in this process's heap (restored
	// into it by member.Start): the limit is in force before it starts.
	lctx, stopLimit := context.WithCancel(ctx)
	defer stopLimit()
	limitMode := "none"
	switch {
	case os.Getenv("GOMEMLIMIT") != "":
		// the runtime read it at start
		limitMode = "environment"
		if o.etcdMemoryLimit.auto || o.etcdMemoryLimit.n > 0 {
			cfg.Logger.Info("murder-bridge: GOMEMLIMIT of the environment wins over --etcd-memory-limit",
				"GOMEMLIMIT", os.Getenv("GOMEMLIMIT"), "etcd-memory-limit", o.etcdMemoryLimit.String())
		}
	case o.etcdMemoryLimit.auto:
		// A soft cap a third above what the last GC found live: Go
		// collects more often near it instead of letting the heap grow
		// by GOGC's percent, and the cap grows with the registry.
		limitMode = "auto"
		memlimit.Start(lctx, func(old, limit, live int64) {
			cfg.Logger.Debug("murder-bridge: Go memory limit follows the live heap",
				"gomemlimit", memLimitString(limit), "was", memLimitString(old), "live_heap", live)
		})
	case o.etcdMemoryLimit.n > 0:
		limitMode = "fixed"
		debug.SetMemoryLimit(o.etcdMemoryLimit.n)
	}
	cfg.Logger.Info("murder-bridge: Go memory limit of the embedded member's process", "mode", limitMode,
		"gomemlimit", memLimitString(debug.SetMemoryLimit(-1)))
	m, err := member.Start(ctx, member.Config{Name: o.etcdMember, Dir: dir, PeerURL: o.etcdPeerURL, ClientURL: o.etcdClientURL,
		InitialCluster: o.etcdInitialCluster, Join: o.etcdJoin,
		SnapshotCount: o.etcdSnapshotCount, CatchUpEntries: o.etcdCatchUp, CompactionRetention: o.etcdCompaction})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return exitcode.With(exitcode.Registry, err)
	}
	defer m.Close()
	cfg.Registry = m.RegistryURL(o.etcdPrefix)
	// The bridge talks to its own member in process (no gRPC over TCP);
	// the member's client URL still serves every other client.
	st, err := etcd.OpenClient(ctx, m.Client(), &etcd.Options{Prefix: o.etcdPrefix, MaxTxnOps: m.MaxTxnOps()})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return exitcode.With(exitcode.Registry, err)
	}
	defer st.Close()
	cfg.Store = st
	cfg.Logger.Info("murder-bridge: embedded etcd member ready", "member", o.etcdMember, "client", o.etcdClientURL, "peer", o.etcdPeerURL,
		"gomemlimit", memLimitString(debug.SetMemoryLimit(-1))) // -1 reads the limit back

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var memberErr error
	var mu sync.Mutex
	go func() {
		select {
		case err := <-m.Err():
			mu.Lock()
			memberErr = err
			mu.Unlock()
			cancel()
		case <-rctx.Done():
		}
	}()
	err = runDaemon(rctx, cfg)
	mu.Lock()
	defer mu.Unlock()
	if memberErr != nil && ctx.Err() == nil {
		return exitcode.With(exitcode.Registry, fmt.Errorf("embedded etcd member %s failed: %w", o.etcdMember, memberErr))
	}
	return err
}

// memLimitFlag is --etcd-memory-limit: "auto" (internal/memlimit), a size
// in GOMEMLIMIT's syntax (600MiB), or 0 (none).
type memLimitFlag struct {
	auto bool
	n    int64
}

func (m *memLimitFlag) String() string {
	if m.auto {
		return "auto"
	}
	return bytesize.Format(m.n)
}
func (m *memLimitFlag) Type() string { return "auto|size" }
func (m *memLimitFlag) Set(s string) error {
	if s == "auto" {
		*m = memLimitFlag{auto: true}
		return nil
	}
	n, err := bytesize.Parse(s)
	if err != nil {
		return fmt.Errorf("%w; or auto", err)
	}
	*m = memLimitFlag{n: n}
	return nil
}

// memLimitString says a Go memory limit for the log ("none" for Go's
// default, math.MaxInt64).
func memLimitString(n int64) string {
	if n == math.MaxInt64 {
		return "none"
	}
	return bytesize.Format(n)
}

func exitcodeInput(err error) error { return exitcode.With(exitcode.Input, err) }

// readSecret reads a password or token file, stripping one trailing
// newline. A file every user may read is warned about on stderr (serve
// checks its own files first and refuses them).
func readSecret(what, path string) (string, error) {
	warnSecretFile(os.Stderr, what, path)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", exitcode.With(exitcode.Input, fmt.Errorf("%s: %w", what, err))
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", exitcode.With(exitcode.Input, fmt.Errorf("%s %s is empty", what, path))
	}
	return s, nil
}

// httpAddr puts a host-less address on loopback.
func httpAddr(a string) string {
	if !strings.Contains(a, ":") {
		return net.JoinHostPort("127.0.0.1", a)
	}
	if strings.HasPrefix(a, ":") {
		return "127.0.0.1" + a
	}
	return a
}

func (o serveOptions) config() (daemonConfig, error) {
	var admins []string
	for _, a := range strings.Split(o.admins, ",") {
		if a = strings.TrimSpace(a); a != "" {
			admins = append(admins, a)
		}
	}
	log := o.logger
	if log == nil {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(o.logLevel)); o.logLevel != "" && err != nil {
			return daemonConfig{}, exitcode.With(exitcode.Usage, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel))
		}
		ho := &slog.HandlerOptions{Level: lv}
		var w io.Writer = os.Stderr
		if o.logSyslog {
			sw, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "murder-bridge")
			if err != nil {
				return daemonConfig{}, exitcode.With(exitcode.Output, fmt.Errorf("--log-syslog: %w", err))
			}
			w = sw
		}
		switch o.logFormat {
		case "", "text":
			log = slog.New(slog.NewTextHandler(w, ho))
		case "json":
			log = slog.New(slog.NewJSONHandler(w, ho))
		default:
			return daemonConfig{}, exitcode.With(exitcode.Usage, fmt.Errorf("--log-format %q: want text or json", o.logFormat))
		}
	}
	if err := checkSecretFiles(o.allowInsecureFiles, func(why string) { log.Warn("murder-bridge: " + why) },
		[2]string{"--credentials", o.credentials}, [2]string{"--follow-password-file", o.followPasswordFile},
		[2]string{"--http-token-file", o.httpTokenFile}); err != nil {
		return daemonConfig{}, err
	}
	sd, err := o.saslauthd()
	if err != nil {
		return daemonConfig{}, err
	}
	sdb, err := o.sasldb()
	if err != nil {
		return daemonConfig{}, err
	}
	cfg := daemonConfig{
		Saslauthd:          sd,
		Sasldb:             sdb,
		SasldbRealm:        o.sasldbRealm,
		Registry:           o.registry,
		DataDir:            o.dataDir,
		Listen:             o.listen,
		Credentials:        o.credentials,
		Admins:             admins,
		RequireTLS:         o.requireTLS,
		ReplicatedBackends: o.replicatedBackends,
		TLSCert:            o.tlsCert,
		TLSKey:             o.tlsKey,
		ServerName:         o.serverName,
		Logger:             log,
	}
	if o.listenFrom != "" {
		ln, err := inheritedListener(o.listenFrom)
		if err != nil {
			return cfg, exitcode.With(exitcode.Usage, err)
		}
		cfg.Listener = ln
		log.Info("murder-bridge: MUPDATE listener passed by the service manager", "from", o.listenFrom, "addr", ln.Addr().String())
		if o.listen != o.listenFrom && o.listen != defaultListen && o.listen != "" {
			log.Warn("murder-bridge: --listen address not used: the service manager passed the MUPDATE socket", "listen", o.listen)
		}
	}
	for _, v := range []struct {
		flag string
		n    int64
	}{{"--max-conns", int64(o.maxConns)}, {"--max-unauth-per-addr", int64(o.maxUnauthPerAddr)},
		{"--login-timeout", int64(o.loginTimeout)}, {"--update-stream-max-mib", o.updateStreamMaxMB}, {"--update-total-max-mib", o.updateTotalMaxMB},
		{"--tombstone-gc-interval", int64(o.tombstoneGCInterval)}} {
		if v.n < 0 {
			return cfg, exitcode.With(exitcode.Usage, fmt.Errorf("%s must not be negative", v.flag))
		}
	}
	if o.tombstoneGCInterval > 0 && o.tombstoneAge <= 0 {
		return cfg, exitcode.With(exitcode.Usage, errors.New("--tombstone-age must be positive (a tombstone refuses a replay of a state read before its delete); --tombstone-gc-interval 0 keeps tombstones for ever"))
	}
	cfg.TombstoneAge, cfg.TombstoneGCEvery = o.tombstoneAge, o.tombstoneGCInterval
	cfg.Server = mupdateserver.Config{MaxConns: o.maxConns, MaxUnauthPerAddr: o.maxUnauthPerAddr, LoginTimeout: o.loginTimeout,
		StreamMaxBytes: o.updateStreamMaxMB << 20, StreamTotalBytes: o.updateTotalMaxMB << 20}
	followPW := o.followPassword
	if o.follow != "" {
		if o.followUser == "" {
			return cfg, exitcode.With(exitcode.Usage, errors.New("--follow needs --follow-user (or mupdate_authname in --imapd-conf)"))
		}
		if o.followPasswordFile != "" {
			pw, err := readSecret("--follow-password-file", o.followPasswordFile)
			if err != nil {
				return cfg, err
			}
			followPW = pw
		}
		if followPW == "" {
			return cfg, exitcode.With(exitcode.Usage, errors.New("--follow needs --follow-password-file (or mupdate_password in --imapd-conf)"))
		}
	} else if o.followUser != "" || o.followPasswordFile != "" {
		return cfg, exitcode.With(exitcode.Usage, errors.New("--follow-user and --follow-password-file need --follow HOST:PORT"))
	}
	var token string
	var openFrom [3][]netip.Prefix
	for i, name := range []string{"--http-health-from", "--http-metrics-from", "--http-auth-from"} {
		if o.httpOpen[i] == "" {
			continue // nil: httpapi's default, loopback
		}
		p, err := httpapi.ParseOpenFrom(o.httpOpen[i])
		if err != nil {
			return cfg, exitcode.With(exitcode.Usage, fmt.Errorf("%s: %w", name, err))
		}
		openFrom[i] = p
	}
	if o.httpTokenFile != "" {
		if o.http == "" {
			return cfg, exitcode.With(exitcode.Usage, errors.New("--http-token-file needs --http ADDR"))
		}
		t, err := readSecret("--http-token-file", o.httpTokenFile)
		if err != nil {
			return cfg, err
		}
		token = t
	}
	if o.follow != "" {
		qdir := o.writeThroughQueue
		if qdir == "" {
			qdir = filepath.Join(o.dataDir, "write-through-queue")
			if strings.HasPrefix(o.registry, "leveldb://") {
				// beside the registry this bridge owns
				qdir = strings.TrimRight(strings.TrimPrefix(o.registry, "leveldb://"), "/") + ".write-through-queue"
			}
		}
		cfg.Follow = &followConfig{Addr: o.follow, User: o.followUser, Password: followPW, Mech: o.followMech,
			StartTLS: o.followStartTLS, QueueDir: qdir}
	}
	if o.http != "" {
		cfg.HTTP = &httpConfig{Addr: o.http, Token: token, MaxLag: o.readyMaxLag, OpenFrom: openFrom}
	}
	return cfg, nil
}

// saslauthd reads --sasl-pwcheck-method (imapd.conf's sasl_pwcheck_method):
// a saslauthd client when it lists saslauthd, nil otherwise. Methods the
// bridge cannot honour are refused rather than ignored.
func (o serveOptions) saslauthd() (*saslauthd.Client, error) {
	methods := strings.Fields(o.pwcheckMethod)
	var sd *saslauthd.Client
	for _, m := range methods {
		switch m {
		case "auxprop":
			// the credentials file, or sasldb (o.sasldb)
		case "saslauthd":
			sd = &saslauthd.Client{Path: o.saslauthdPath, Service: saslauthd.DefaultService}
		default:
			return nil, exitcode.With(exitcode.Usage, fmt.Errorf("sasl_pwcheck_method %q: murder-bridge checks passwords only with auxprop (its --credentials file) or saslauthd", m))
		}
	}
	if o.saslauthdPath != "" && sd == nil {
		return nil, exitcode.With(exitcode.Usage, errors.New("--saslauthd-path needs sasl_pwcheck_method saslauthd"))
	}
	return sd, nil
}

// sasldb is the sasldb file to read: with auxprop in
// --sasl-pwcheck-method, the sasldb plugin (or none named) and no
// --credentials (which otherwise stands for the auxprop); "" otherwise.
func (o serveOptions) sasldb() (string, error) {
	if !slices.Contains(strings.Fields(o.pwcheckMethod), "auxprop") || o.credentials != "" {
		return "", nil
	}
	if p := strings.Fields(o.auxpropPlugin); len(p) > 0 && !slices.Contains(p, "sasldb") {
		return "", exitcode.With(exitcode.Usage, fmt.Errorf("sasl_auxprop_plugin %q: murder-bridge reads only sasldb; give --credentials instead", o.auxpropPlugin))
	}
	path := o.sasldbPath
	if path == "" {
		path = sasldb.DefaultPath
	}
	return path, nil
}
