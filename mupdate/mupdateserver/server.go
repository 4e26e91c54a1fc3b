package mupdateserver

import (
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdg-go/scram"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// Authenticator checks SASL credentials. *creds.Store implements it.
type Authenticator interface {
	// VerifyPlain checks a PLAIN password (in constant time).
	VerifyPlain(name, password string) bool
	// SCRAM returns the stored SCRAM credentials of name for mechanism
	// mech ("SCRAM-SHA-256", ...), or an error when there are none.
	SCRAM(mech, name string) (scram.StoredCredentials, error)
}

var _ Authenticator = (*creds.Store)(nil)

// ContextVerifier is implemented by an Authenticator whose PLAIN check
// asks another process (saslauthd): the server then calls it with the
// connection's context instead of VerifyPlain. A non-nil error means the
// check could not be made (the client is refused as for a wrong password;
// the error is logged).
type ContextVerifier interface {
	VerifyPlainContext(ctx context.Context, name, password string) (bool, error)
}

// MechanismLister is implemented by an Authenticator that knows which
// mechanisms it can serve; the server offers those by default.
type MechanismLister interface {
	Mechanisms() []string
}

// Config configures a Server. Backend and Auth are required.
type Config struct {
	Backend mupdate.Backend
	Auth    Authenticator

	// Admins may write (RESERVE/ACTIVATE/DEACTIVATE/DELETE). Empty means
	// every authenticated identity may write.
	Admins []string
	// AllowReadOnly lets identities that are not admins authenticate and
	// read (FIND/LIST/UPDATE); their writes are answered
	// `NO "read-only session"`. When false (Cyrus's behaviour), a
	// non-admin's AUTHENTICATE fails with `NO "undefined error!"`.
	AllowReadOnly bool

	// Mechanisms offered in the banner, in order. Default: the Auth's
	// own list when it is a MechanismLister; else the SCRAM mechanisms
	// every credential supports (SCRAM-SHA-512, -256, -1 when the Auth is
	// a *creds.Store; all three otherwise), then PLAIN.
	Mechanisms []string
	// TLSConfig enables STARTTLS.
	TLSConfig *tls.Config
	// RequireTLS: PLAIN is neither offered nor accepted before STARTTLS.
	RequireTLS bool

	// Banner: `* OK MUPDATE "ServerName" "Impl" "Version" "(master)"`.
	ServerName string // default: os hostname is not guessed; "murderkit"
	Impl       string // default "murderkit"
	Version    string // default "0"

	Logger *slog.Logger // default slog.Default()

	// MaxConns bounds open connections (default 10000). When it is
	// reached, a new connection closes the oldest one that has not logged
	// in yet (`* BYE "server full; closing a connection that has not
	// logged in"`); only when every connection is logged in is the new one
	// refused with `* BYE "Server Unable"`. Logged-in backends and slaves
	// are never closed to make room.
	MaxConns int
	// LoginTimeout bounds the time from accept to a successful
	// AUTHENTICATE (STARTTLS included); then `* BYE "login timeout"`.
	// Default 60 s.
	LoginTimeout time.Duration
	// MaxUnauthPerAddr bounds the connections from one IP address that
	// have not logged in yet; beyond it a new one from that address gets
	// `* BYE "too many connections awaiting login from your address"`.
	// Default 128.
	MaxUnauthPerAddr int
	IdleTimeout      time.Duration // between commands; default 180 min (Cyrus)
	CommandTimeout   time.Duration // to finish a started command; default 5 min
	WriteTimeout     time.Duration // per flush; default 2 min
	FailedLoginPause time.Duration // before a failed AUTHENTICATE's NO; default 3 s (Cyrus); <0 means none
	// StreamQueue bounds the changes queued for one UPDATE client; a client
	// that falls further behind gets `* BYE` and is disconnected (it
	// reconnects and resyncs, as a Cyrus slave does). Default 100000.
	StreamQueue int
	// StreamMaxBytes bounds the bytes of changes held for one UPDATE client
	// (queued, or being written, and not yet handed to the socket). A
	// client that would need more is dropped at once: a log line, the
	// StreamsDropped counter, `* BYE` (sent within ByeTimeout if the
	// client reads at all) and the connection closed; a Cyrus slave then
	// reconnects and resyncs from a full dump. Default 32 MiB.
	StreamMaxBytes int64
	// StreamTotalBytes bounds those bytes over all UPDATE clients together;
	// when a change would go over it, the clients holding the most are
	// dropped first (the stalled ones), then, if that is not enough, the
	// client the change is for. Default 256 MiB.
	StreamTotalBytes int64
	// ByeTimeout bounds the writes to a client being dropped (the rest of
	// its output and the `* BYE`). Default 5 s (at most WriteTimeout).
	ByeTimeout time.Duration
	// NoopWait bounds how long a streaming NOOP waits for the change feed
	// to reach the backend's current revision. Default 2 s (below the 5 s
	// mupdate_retry_delay a slave may use to declare the master dead).
	NoopWait time.Duration
	Limits   wire.Limits
}

// Server is a MUPDATE master. Create it with New.
type Server struct {
	cfg    Config
	log    *slog.Logger
	admins map[string]bool

	nconns atomic.Int64
	stats  counters

	// bytes held for UPDATE streams (see StreamTotalBytes)
	held     atomic.Int64
	heldPeak atomic.Int64
	smu      sync.Mutex
	streams  map[*conn]*stream

	// connections that have not logged in, oldest first, and their count
	// by address
	umu      sync.Mutex
	unauth   *list.List
	unauthBy map[string]int
	noteMu   sync.Mutex
	noted    map[string]*throttle

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup

	// down ends when Shutdown is called: listeners close and every
	// connection says `* BYE` after its command in flight.
	down     context.Context
	shutdown context.CancelFunc
}

// Defaults of the UPDATE stream byte caps.
const (
	DefaultStreamMaxBytes   = 32 << 20
	DefaultStreamTotalBytes = 256 << 20
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("mupdateserver: server closed")

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("mupdateserver: Config.Backend is required")
	}
	if cfg.Auth == nil {
		return nil, errors.New("mupdateserver: Config.Auth is required")
	}
	if cfg.Mechanisms == nil {
		if ml, ok := cfg.Auth.(MechanismLister); ok {
			cfg.Mechanisms = slices.Clone(ml.Mechanisms())
		} else if st, ok := cfg.Auth.(*creds.Store); ok {
			cfg.Mechanisms = append(st.CommonMechanisms(), creds.PLAIN)
		} else {
			cfg.Mechanisms = append(slices.Clone(creds.SCRAMMechanisms), creds.PLAIN)
		}
	}
	for _, m := range cfg.Mechanisms {
		if m != creds.PLAIN && creds.HashFunc(m) == nil {
			return nil, fmt.Errorf("mupdateserver: unsupported mechanism %q", m)
		}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "murderkit"
	}
	if cfg.Impl == "" {
		cfg.Impl = "murderkit"
	}
	if cfg.Version == "" {
		cfg.Version = "0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10000
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = 60 * time.Second
	}
	if cfg.MaxUnauthPerAddr <= 0 {
		cfg.MaxUnauthPerAddr = 128
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 180 * time.Minute
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Minute
	}
	if cfg.FailedLoginPause == 0 {
		cfg.FailedLoginPause = 3 * time.Second
	}
	if cfg.StreamQueue <= 0 {
		cfg.StreamQueue = 100000
	}
	if cfg.StreamMaxBytes <= 0 {
		cfg.StreamMaxBytes = DefaultStreamMaxBytes
	}
	if cfg.StreamTotalBytes <= 0 {
		cfg.StreamTotalBytes = DefaultStreamTotalBytes
	}
	if cfg.ByeTimeout <= 0 {
		cfg.ByeTimeout = 5 * time.Second
	}
	cfg.ByeTimeout = min(cfg.ByeTimeout, cfg.WriteTimeout)
	cfg.StreamTotalBytes = max(cfg.StreamTotalBytes, cfg.StreamMaxBytes)
	if cfg.NoopWait <= 0 {
		cfg.NoopWait = 2 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, lns: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{},
		streams: map[*conn]*stream{}, unauth: list.New(), unauthBy: map[string]int{}, noted: map[string]*throttle{}}
	s.down, s.shutdown = context.WithCancel(context.Background())
	if len(cfg.Admins) > 0 {
		s.admins = map[string]bool{}
		for _, a := range cfg.Admins {
			s.admins[a] = true
		}
	}
	return s, nil
}

func (s *Server) isAdmin(id string) bool { return s.admins == nil || s.admins[id] }

// Serve accepts connections on ln until ctx is cancelled or Shutdown or
// Close is called; it then returns ErrServerClosed (or ctx's error). Each
// connection runs in its own goroutine. When ctx ends, the connections it
// accepted end as after Shutdown: `* BYE` once their command in flight has
// finished.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	stopDown := context.AfterFunc(s.down, func() { ln.Close() })
	defer stopDown()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.ServeConn(ctx, nc)
	}
}

// ServeConn serves one already accepted connection in a new goroutine and
// returns at once. The connection is closed when its session ends.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	addr := hostOf(nc.RemoteAddr())
	s.umu.Lock()
	if s.unauthBy[addr] >= s.cfg.MaxUnauthPerAddr {
		s.umu.Unlock()
		s.stats.refusedPerAddr.Add(1)
		s.note(refusedPerAddr, addr, "mupdate: refusing a connection: too many from this address awaiting login", "max_unauth_per_addr", s.cfg.MaxUnauthPerAddr)
		refuse(nc, textPerAddr)
		return
	}
	var victim *conn
	if s.nconns.Add(1) > int64(s.cfg.MaxConns) {
		if e := s.unauth.Front(); e != nil {
			victim = s.unauth.Remove(e).(*conn)
			victim.uelem = nil
			s.unauthBy[victim.addr]--
			if s.unauthBy[victim.addr] == 0 {
				delete(s.unauthBy, victim.addr)
			}
		} else {
			s.umu.Unlock()
			s.nconns.Add(-1)
			s.stats.refusedFull.Add(1)
			s.note(refusedFull, addr, "mupdate: too many connections, all logged in: refusing one", "max", s.cfg.MaxConns)
			refuse(nc, "Server Unable")
			return
		}
	}
	c := newConn(s, nc)
	c.addr = addr
	c.loginBy = time.Now().Add(s.cfg.LoginTimeout)
	c.uelem = s.unauth.PushBack(c)
	s.unauthBy[addr]++
	s.umu.Unlock()
	if victim != nil {
		s.stats.evicted.Add(1)
		s.note(evicted, victim.addr, "mupdate: connections full: closing the oldest one that has not logged in", "max", s.cfg.MaxConns)
		go victim.evict()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.nconns.Add(-1)
		s.loggedOut(c)
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer s.nconns.Add(-1)
		defer s.loggedOut(c)
		defer func() {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
		// the connection ends with ctx or with Shutdown, whichever first
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(s.down, cancel)
		defer stop()
		c.serve(cctx)
	}()
}

// refuse sends a BYE to a connection that is not served and closes it.
func refuse(nc net.Conn, text string) {
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write([]byte("* BYE \"" + text + "\"\r\n"))
	nc.Close()
}

// hostOf is the IP address of a remote address (the whole string when it
// has no port).
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// loggedIn takes c off the list of connections awaiting login; false when
// it was closed to make room in the meantime (the login must not count).
func (s *Server) loggedIn(c *conn) bool {
	s.umu.Lock()
	defer s.umu.Unlock()
	if c.uelem == nil {
		return false
	}
	s.unlistLocked(c)
	return true
}

// loggedOut forgets c when its session ends.
func (s *Server) loggedOut(c *conn) {
	s.umu.Lock()
	if c.uelem != nil {
		s.unlistLocked(c)
	}
	s.umu.Unlock()
}

func (s *Server) unlistLocked(c *conn) {
	s.unauth.Remove(c.uelem)
	c.uelem = nil
	if s.unauthBy[c.addr]--; s.unauthBy[c.addr] <= 0 {
		delete(s.unauthBy, c.addr)
	}
}

// Kinds of refusal (throttled log lines).
const (
	refusedPerAddr = "per_address"
	refusedFull    = "full"
	evicted        = "evicted"
	loginTimeout   = "login_timeout"
)

// throttle keeps one kind of refusal to one log line per 10 s.
type throttle struct {
	last       time.Time
	suppressed int
}

// note logs a refusal of kind, at most once per 10 s per kind, with the
// number of refusals not logged since.
func (s *Server) note(kind, addr, msg string, attrs ...any) {
	s.noteMu.Lock()
	th := s.noted[kind]
	if th == nil {
		th = &throttle{}
		s.noted[kind] = th
	}
	now := time.Now()
	if now.Sub(th.last) < 10*time.Second {
		th.suppressed++
		s.noteMu.Unlock()
		return
	}
	n := th.suppressed
	th.last, th.suppressed = now, 0
	s.noteMu.Unlock()
	s.log.Warn(msg, append([]any{"remote_ip", addr, "not_logged_since_last_line", n}, attrs...)...)
}

// Conns returns the number of open connections.
func (s *Server) Conns() int { return int(s.nconns.Load()) }

// Stats are the server's counters of protective actions (for metrics and
// tests). Counters only grow; gauges are "now".
type Stats struct {
	// StreamBytes (gauge) is what the UPDATE streams hold now: changes
	// queued or being written, not yet handed to the socket.
	StreamBytes int64
	// StreamBytesPeak is the highest StreamBytes seen.
	StreamBytesPeak int64
	// AwaitingLogin (gauge) counts connections that have not logged in.
	AwaitingLogin int64
	// Refused counts connections refused or closed before login, by
	// reason: "per_address" (MaxUnauthPerAddr), "full" (MaxConns with
	// every connection logged in), "evicted" (closed to make room for a
	// new one), "login_timeout" (LoginTimeout).
	Refused map[string]int64
	// StreamsDropped counts UPDATE clients dropped for falling behind, by
	// reason: "stream_bytes" (StreamMaxBytes), "total_bytes"
	// (StreamTotalBytes), "stream_changes" (StreamQueue), "backend" (the
	// backend ended the feed: ErrLagged, ErrCompacted, a failure).
	StreamsDropped map[string]int64
}

type counters struct {
	dropStreamBytes, dropTotalBytes, dropChanges, dropBackend atomic.Int64
	refusedPerAddr, refusedFull, evicted, loginTimeouts       atomic.Int64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.umu.Lock()
	waiting := int64(s.unauth.Len())
	s.umu.Unlock()
	return Stats{
		AwaitingLogin: waiting,
		Refused: map[string]int64{
			refusedPerAddr: s.stats.refusedPerAddr.Load(),
			refusedFull:    s.stats.refusedFull.Load(),
			evicted:        s.stats.evicted.Load(),
			loginTimeout:   s.stats.loginTimeouts.Load(),
		},
		StreamBytes:     s.held.Load(),
		StreamBytesPeak: s.heldPeak.Load(),
		StreamsDropped: map[string]int64{
			dropStreamBytes:  s.stats.dropStreamBytes.Load(),
			dropTotalBytes:   s.stats.dropTotalBytes.Load(),
			dropChanges:      s.stats.dropChanges.Load(),
			dropBackendEnded: s.stats.dropBackend.Load(),
		},
	}
}

// Reasons a stream is dropped (Stats.StreamsDropped keys).
const (
	dropStreamBytes  = "stream_bytes"
	dropTotalBytes   = "total_bytes"
	dropChanges      = "stream_changes"
	dropBackendEnded = "backend"
)

// reserve takes n bytes of the StreamTotalBytes budget; false when they
// would go over it.
func (s *Server) reserve(n int64) bool {
	for {
		cur := s.held.Load()
		if cur+n > s.cfg.StreamTotalBytes {
			return false
		}
		if s.held.CompareAndSwap(cur, cur+n) {
			for {
				p := s.heldPeak.Load()
				if cur+n <= p || s.heldPeak.CompareAndSwap(p, cur+n) {
					return true
				}
			}
		}
	}
}

func (s *Server) release(n int64) {
	if n != 0 {
		s.held.Add(-n)
	}
}

// shed drops the streams holding the most until n more bytes fit in the
// total budget (or no stream holds anything).
func (s *Server) shed(n int64) {
	for s.held.Load()+n > s.cfg.StreamTotalBytes {
		var worst *conn
		var wst *stream
		var most int64
		s.smu.Lock()
		for c, st := range s.streams {
			if b := st.bytes.Load(); b > most && !st.dropped.Load() {
				worst, wst, most = c, st, b
			}
		}
		s.smu.Unlock()
		if worst == nil {
			return
		}
		worst.dropStream(wst, dropTotalBytes)
	}
}

func (s *Server) track(c *conn, st *stream) {
	s.smu.Lock()
	s.streams[c] = st
	s.smu.Unlock()
}

func (s *Server) untrack(c *conn) {
	s.smu.Lock()
	delete(s.streams, c)
	s.smu.Unlock()
}

// Shutdown stops the server gracefully, as http.Server.Shutdown does: it
// closes every listener, tells every connection to end (each gets `* BYE
// "server shutting down"` once its command in flight has finished; UPDATE
// streams included) and waits until all have ended or ctx ends. It returns
// nil when all ended, ctx's error otherwise (then Close ends the rest).
// Serve returns ErrServerClosed after it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()
	s.shutdown()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops every listener and connection at once and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.raw.Close()
	}
	s.mu.Unlock()
	s.shutdown()
	s.wg.Wait()
	return nil
}
