package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/murderkit/murderkit/cutover"
	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// DefaultAddr is where --http listens when given without a host: loopback.
const DefaultAddr = "127.0.0.1:8405"

// FollowStatus is what the API needs from follow mode (*follow.Follower).
type FollowStatus interface {
	Status() follow.Status
}

// WriteThroughStatus is what the HTTP API reads of the write-through to the
// old master (a *cutover.WriteThrough).
type WriteThroughStatus interface {
	Status() cutover.Status
}

// Registry is what a Server uses of a registry.Store: the reads and
// the slots the API serves.
type Registry interface {
	registry.Reader
	registry.SlotStore
}

// Config configures a Server. Store is required.
type Config struct {
	// Store answers the reads and the slot calls of the API.
	Store Registry
	// Follow is set in follow mode: /readyz then checks the lag and
	// /v1/status and /metrics show the follower's state.
	Follow FollowStatus
	// WriteThrough is set when cut-over slots are written through to the
	// old master: /v1/status and /metrics then show its queue, and
	// `slot rollback --bridge` refuses while changes are still queued.
	WriteThrough WriteThroughStatus
	// Token is the bearer token every registry read (/v1/...) and every
	// write needs; empty refuses them all. Entries hold ACLs and the
	// visible lists say who shares with whom, so nothing of the registry
	// is served without it.
	Token string
	// HealthFrom, MetricsFrom and AuthFrom are the client networks that
	// may use /healthz and /readyz, /metrics, and nginx's /auth without
	// the token; a request carrying the token is served from anywhere.
	// Nil means loopback only (DefaultOpenFrom); an empty non-nil slice
	// means nobody without the token.
	HealthFrom, MetricsFrom, AuthFrom []netip.Prefix
	// MaxLag bounds the follow lag /readyz accepts (default 30 s). Before
	// the first full resync the bridge is not ready.
	MaxLag time.Duration
	// Metrics, when nil, is created (NewMetrics).
	Metrics *Metrics
	Logger  *slog.Logger
	// Resolver resolves backend host names for auth_http (default
	// net.DefaultResolver).
	Resolver *net.Resolver
	// AuthPorts maps nginx's Auth-Protocol (imap, pop3, smtp) to the port
	// used when a backend's server name has none (default imap 143, pop3
	// 110, smtp 25).
	AuthPorts map[string]int
	// AuthWait is the Auth-Wait nginx is told on a failed login (default 3 s,
	// Cyrus's failedloginpause).
	AuthWait time.Duration
}

// DefaultOpenFrom is where /healthz, /readyz, /metrics and /auth are
// served without the token unless Config says otherwise: loopback.
var DefaultOpenFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ParseOpenFrom parses a comma-separated list of networks (CIDR, or a
// single address) for Config.HealthFrom and the like; "none" is the empty
// list.
func ParseOpenFrom(s string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	if strings.TrimSpace(s) == "none" {
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("bad network %q: want CIDR (10.0.0.0/8) or an address", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Server is the operator HTTP API.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New checks cfg and builds the handlers.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("httpapi: Config.Store is required")
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = 30 * time.Second
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.AuthPorts == nil {
		cfg.AuthPorts = map[string]int{"imap": 143, "pop3": 110, "smtp": 25}
	}
	if cfg.AuthWait <= 0 {
		cfg.AuthWait = 3 * time.Second
	}
	if cfg.HealthFrom == nil {
		cfg.HealthFrom = DefaultOpenFrom
	}
	if cfg.MetricsFrom == nil {
		cfg.MetricsFrom = DefaultOpenFrom
	}
	if cfg.AuthFrom == nil {
		cfg.AuthFrom = DefaultOpenFrom
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if f := cfg.Follow; f != nil {
		cfg.Metrics.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "murder_bridge_follow_lag_seconds",
				Help: "Age of the last completed NOOP round trip to the followed master (-1 before the first).",
			}, func() float64 {
				st := f.Status()
				if st.Lag < 0 {
					return -1
				}
				return st.Lag.Seconds()
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "murder_bridge_follow_connected",
				Help: "1 while the follow connection to the old master is up and synchronised.",
			}, func() float64 {
				if st := f.Status(); st.Connected && st.Synced {
					return 1
				}
				return 0
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "murder_bridge_follow_resyncs_total",
				Help: "Full resynchronisations with the followed master.",
			}, func() float64 { return float64(f.Status().Resyncs) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "murder_bridge_follow_writes_total",
				Help: "Registry writes made by the follower.",
			}, func() float64 { return float64(f.Status().Applied) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "murder_bridge_follow_refused_total",
				Help: "Entries of the followed master not written because real Cyrus cannot hold them (each logged).",
			}, func() float64 { return float64(f.Status().Refused) }),
		)
	}
	if wt := cfg.WriteThrough; wt != nil {
		cfg.Metrics.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "murder_bridge_write_through_queued",
				Help: "Changes of cut-over slots queued for the old master (creates in those slots are refused while > 0).",
			}, func() float64 { return float64(wt.Status().Queued) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "murder_bridge_write_through_sent_total",
				Help: "Changes the old master accepted from the write-through.",
			}, func() float64 { return float64(wt.Status().Sent) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "murder_bridge_write_through_refused_total",
				Help: "Creates refused with \"try later\" while changes were queued or the old master was unreachable.",
			}, func() float64 { return float64(wt.Status().Refused) }),
		)
	}
	s.handle("GET /healthz", "healthz", s.openFrom(cfg.HealthFrom, s.healthz))
	s.handle("GET /readyz", "readyz", s.openFrom(cfg.HealthFrom, s.readyz))
	s.mux.Handle("GET /metrics", s.openFrom(cfg.MetricsFrom, promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP))
	s.handle("GET /v1/status", "status", s.needsToken(s.status))
	s.handle("GET /v1/mailboxes", "mailboxes", s.needsToken(s.listMailboxes))
	s.handle("GET /v1/mailboxes/{name}", "mailbox", s.needsToken(s.mailbox))
	s.handle("GET /v1/visible", "visible", s.needsToken(s.visible))
	s.handle("GET /v1/slots", "slots", s.needsToken(s.listSlots))
	s.handle("GET /v1/slots/{name}", "slot", s.needsToken(s.getSlot))
	s.handle("POST /v1/slots", "slot_create", s.writer(s.createSlot))
	s.handle("PUT /v1/slots/{name}", "slot_update", s.writer(s.updateSlot))
	s.handle("DELETE /v1/slots/{name}", "slot_delete", s.writer(s.deleteSlot))
	s.handle("GET /auth", "auth_http", s.openFrom(cfg.AuthFrom, s.authHTTP))
	s.handle("/", "other", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return s, nil
}

// Metrics returns the server's metrics (other parts register theirs on
// its Registry).
func (s *Server) Metrics() *Metrics { return s.cfg.Metrics }

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on ln until ctx ends, then shuts down gracefully (5 s).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	<-errc
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// handle registers h with panic recovery and request counting.
func (s *Server) handle(pattern, name string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("httpapi: panic in handler", "handler", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.code == 0 {
					httpError(sw, http.StatusInternalServerError, "internal error")
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			s.cfg.Metrics.httpRequests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		}()
		h(sw, r)
	})
}

// hasToken reports whether r carries the bearer token (compared in
// constant time); never when no token is configured.
func (s *Server) hasToken(r *http.Request) bool {
	if s.cfg.Token == "" {
		return false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.cfg.Token)) == 1
}

// refuse answers a request without the token: 403 when the bridge has
// none (nothing can be authorized), else 401 with a Bearer challenge.
func (s *Server) refuse(w http.ResponseWriter, what string) {
	if s.cfg.Token == "" {
		httpError(w, http.StatusForbidden, what+" are disabled: the bridge has no --http-token-file")
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="murder-bridge"`)
	httpError(w, http.StatusUnauthorized, what+" need Authorization: Bearer TOKEN (the --http-token-file's token)")
}

// needsToken wraps a registry read: it is served only with the bearer
// token. Every /v1 read goes through it, and so must any read endpoint
// added later (entries carry ACLs; visible lists say who shares with
// whom).
func (s *Server) needsToken(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.hasToken(r) {
			s.refuse(w, "registry reads")
			return
		}
		h(w, r)
	}
}

// writer checks the bearer token, then runs h (and logs the write).
func (s *Server) writer(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.hasToken(r) {
			s.refuse(w, "writes")
			return
		}
		s.log.Info("http write", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		h(w, r)
	}
}

// openFrom serves h to clients in nets without the token, and to anyone
// with it.
func (s *Server) openFrom(nets []netip.Prefix, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if clientIn(r, nets) || s.hasToken(r) {
			h(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="murder-bridge"`)
		httpError(w, http.StatusForbidden, fmt.Sprintf("%s is open without the token only to %s; from %s it needs Authorization: Bearer TOKEN", r.URL.Path, prefixList(nets), r.RemoteAddr))
	}
}

func clientIn(r *http.Request, nets []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

func prefixList(nets []netip.Prefix) string {
	if len(nets) == 0 {
		return "nobody"
	}
	var b []string
	for _, n := range nets {
		b = append(b, n.String())
	}
	return strings.Join(b, ", ")
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error     string              `json:"error"`
	Tombstone *registry.Tombstone `json:"tombstone,omitempty"`
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// registryError answers a registry error with the fitting status.
func (s *Server) registryError(w http.ResponseWriter, op string, err error) {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		httpError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, registry.ErrInvalid):
		httpError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, registry.ErrExists), errors.Is(err, registry.ErrConflict):
		httpError(w, http.StatusConflict, err.Error())
	default:
		s.cfg.Metrics.RegistryError(op)
		s.log.Error("httpapi: registry failed", "op", op, "err", err)
		httpError(w, http.StatusServiceUnavailable, err.Error())
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// Readiness is /readyz's JSON body.
type Readiness struct {
	Ready    bool           `json:"ready"`
	Reasons  []string       `json:"reasons,omitempty"`
	Revision int64          `json:"revision"`
	Follow   *follow.Status `json:"follow,omitempty"`
	// WriteThrough is the write-through queue to the old master (follow
	// mode); Queued > 0 means changes have not reached it yet.
	WriteThrough *cutover.Status `json:"write_through,omitempty"`
}

func (s *Server) readiness(ctx context.Context) Readiness {
	var rd Readiness
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	rev, err := s.cfg.Store.Revision(ctx)
	if err != nil {
		s.cfg.Metrics.RegistryError("revision")
		rd.Reasons = append(rd.Reasons, "registry unreachable: "+err.Error())
	}
	rd.Revision = rev
	if s.cfg.Follow != nil {
		st := s.cfg.Follow.Status()
		rd.Follow = &st
		if st.AuthRefused {
			rd.Reasons = append(rd.Reasons, "follow: "+st.LastError)
		}
		switch {
		case st.Lag < 0:
			rd.Reasons = append(rd.Reasons, "follow: no full list from the master "+st.Master+" yet")
		case st.Lag > s.cfg.MaxLag:
			rd.Reasons = append(rd.Reasons, fmt.Sprintf("follow: lag %s exceeds %s", st.Lag.Round(time.Millisecond), s.cfg.MaxLag))
		}
	}
	if s.cfg.WriteThrough != nil {
		wt := s.cfg.WriteThrough.Status()
		rd.WriteThrough = &wt
	}
	rd.Ready = len(rd.Reasons) == 0
	return rd
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := s.readiness(r.Context())
	code := http.StatusOK
	if !rd.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rd)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.readiness(r.Context()))
}

func (s *Server) mailbox(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if len(name) > maxName {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("mailbox name of %d bytes is longer than %d", len(name), maxName))
		return
	}
	if err := registry.ValidateName(name); err != nil {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("bad mailbox name %q: %v", name, err))
		return
	}
	e, err := s.cfg.Store.Get(r.Context(), name)
	if errors.Is(err, registry.ErrNotFound) {
		body := ErrorBody{Error: err.Error()}
		if t, terr := s.cfg.Store.GetTombstone(r.Context(), name); terr == nil {
			body.Tombstone = &t
		}
		writeJSON(w, http.StatusNotFound, body)
		return
	}
	if err != nil {
		s.registryError(w, "get", err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// VisibleAnswer is /v1/visible's JSON body.
type VisibleAnswer struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	Names  []string `json:"names"`
}

func (s *Server) visible(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user := q.Get("user")
	if user == "" || len(q["user"]) != 1 {
		httpError(w, http.StatusBadRequest, "visible needs exactly one user=USERID parameter")
		return
	}
	groups := q["group"]
	for _, g := range groups {
		if g == "" {
			httpError(w, http.StatusBadRequest, "empty group= parameter")
			return
		}
	}
	names, err := s.cfg.Store.Visible(r.Context(), user, groups)
	if err != nil {
		s.registryError(w, "visible", err)
		return
	}
	if names == nil {
		names = []string{}
	}
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, http.StatusOK, VisibleAnswer{User: user, Groups: groups, Names: names})
}

func (s *Server) listSlots(w http.ResponseWriter, r *http.Request) {
	sl, err := s.cfg.Store.ListSlots(r.Context())
	if err != nil {
		s.registryError(w, "slots", err)
		return
	}
	if sl == nil {
		sl = []registry.Slot{}
	}
	writeJSON(w, http.StatusOK, sl)
}

func (s *Server) getSlot(w http.ResponseWriter, r *http.Request) {
	sl, err := s.cfg.Store.GetSlot(r.Context(), r.PathValue("name"))
	if err != nil {
		s.registryError(w, "slot", err)
		return
	}
	writeJSON(w, http.StatusOK, sl)
}

const (
	maxBody = 1 << 20
	maxName = 1024 // Cyrus's own limit (MAX_MAILBOX_NAME) is 490
)

func decodeSlot(w http.ResponseWriter, r *http.Request) (registry.Slot, bool) {
	var sl registry.Slot
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		httpError(w, http.StatusBadRequest, "bad slot JSON: "+err.Error())
		return sl, false
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD silently.
	if !utf8.Valid(body) {
		httpError(w, http.StatusBadRequest, "bad slot JSON: the body is not valid UTF-8")
		return sl, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sl); err != nil {
		httpError(w, http.StatusBadRequest, "bad slot JSON: "+err.Error())
		return sl, false
	}
	if dec.More() {
		httpError(w, http.StatusBadRequest, "bad slot JSON: more than one object")
		return sl, false
	}
	if err := registry.ValidateSlot(sl); err != nil {
		httpError(w, http.StatusBadRequest, "bad slot: "+err.Error())
		return sl, false
	}
	for _, l := range sl.Locations { // what real Cyrus cannot hold (docs/entry-model.md)
		if err := mboxlist.CheckLocation(l.Server, l.Partition); err != nil {
			httpError(w, http.StatusBadRequest, "bad slot location: "+err.Error())
			return sl, false
		}
	}
	return sl, true
}

func (s *Server) createSlot(w http.ResponseWriter, r *http.Request) {
	sl, ok := decodeSlot(w, r)
	if !ok {
		return
	}
	// A new slot starts where `slot define` starts one: legacy or
	// mirrored, no revision, and a history that is at most the one
	// definition entry (stamped with the server's time).
	if sl.State != registry.SlotLegacy && sl.State != registry.SlotMirrored {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("a new slot starts legacy or mirrored, not %s (later states are reached by transitions)", sl.State))
		return
	}
	if sl.Revision != 0 {
		httpError(w, http.StatusBadRequest, "a new slot has no revision (the registry assigns it)")
		return
	}
	switch len(sl.History) {
	case 0:
	case 1:
		if h := sl.History[0]; h.From != "" || h.To != sl.State {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("a new slot's history is its definition only (to %s), not %q → %q", sl.State, h.From, h.To))
			return
		}
		sl.History[0].Time = time.Now().UTC()
	default:
		httpError(w, http.StatusBadRequest, fmt.Sprintf("a new slot has no past: %d history entries given (at most the definition)", len(sl.History)))
		return
	}
	out, err := s.cfg.Store.CreateSlot(r.Context(), sl)
	if err != nil {
		s.registryError(w, "create_slot", err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) updateSlot(w http.ResponseWriter, r *http.Request) {
	sl, ok := decodeSlot(w, r)
	if !ok {
		return
	}
	if sl.Name != r.PathValue("name") {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("slot name %q in the body differs from %q in the path", sl.Name, r.PathValue("name")))
		return
	}
	if sl.Revision == 0 {
		httpError(w, http.StatusBadRequest, "an update needs the revision the slot was read at (compare-and-set)")
		return
	}
	// The history is an audit trail: an update keeps it and appends the
	// one transition it makes.
	old, err := s.cfg.Store.GetSlot(r.Context(), sl.Name)
	if err != nil {
		s.registryError(w, "slot", err)
		return
	}
	if old.Revision != sl.Revision {
		httpError(w, http.StatusConflict, fmt.Sprintf("slot %q is at revision %d, not %d: read it again", sl.Name, old.Revision, sl.Revision))
		return
	}
	if msg := checkAppend(old, sl); msg != "" {
		httpError(w, http.StatusBadRequest, "bad slot update: "+msg)
		return
	}
	sl.History[len(sl.History)-1].Time = time.Now().UTC()
	out, err := s.cfg.Store.UpdateSlot(r.Context(), sl)
	if err != nil {
		s.registryError(w, "update_slot", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteSlot(w http.ResponseWriter, r *http.Request) {
	rev, err := strconv.ParseInt(r.URL.Query().Get("revision"), 10, 64)
	if err != nil || rev <= 0 {
		httpError(w, http.StatusBadRequest, "delete needs ?revision=N, the revision the slot was read at")
		return
	}
	if err := s.cfg.Store.DeleteSlot(r.Context(), r.PathValue("name"), rev); err != nil {
		s.registryError(w, "delete_slot", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// checkAppend says why an update of old to sl is not one change appended
// to the audit history, or "": the stored history kept as it is, plus one
// entry from the stored state to the new one, which is a transition or
// (as `slot edit` makes them) a change of locations while the old master
// is authoritative, a shadow-clean slot going back to mirrored.
func checkAppend(old, sl registry.Slot) string {
	if len(sl.History) != len(old.History)+1 {
		return fmt.Sprintf("the history must be the stored %d entries plus the one transition made, not %d entries", len(old.History), len(sl.History))
	}
	for i, h := range old.History {
		n := sl.History[i]
		if n.From != h.From || n.To != h.To || !n.Time.Equal(h.Time) || n.By != h.By || n.Note != h.Note {
			return fmt.Sprintf("history entry %d differs from the stored one (the history is append-only)", i)
		}
	}
	t := sl.History[len(sl.History)-1]
	if t.From != old.State || t.To != sl.State {
		return fmt.Sprintf("the new history entry must record the change from %s to %s, not %q → %q", old.State, sl.State, t.From, t.To)
	}
	moved := !slices.EqualFunc(old.Locations, sl.Locations, func(a, b registry.Location) bool { return a == b })
	switch {
	case !moved && sl.State == old.State:
		return fmt.Sprintf("nothing changes (state %s, same locations)", old.State)
	case moved && (old.State == registry.SlotCutover || old.State == registry.SlotRetired):
		return fmt.Sprintf("the locations of a slot in %s do not change: the bridge is authoritative for its mailboxes (roll it back first)", old.State)
	case moved && sl.State != old.State && !(old.State == registry.SlotShadowClean && sl.State == registry.SlotMirrored):
		return fmt.Sprintf("an edit of the locations keeps the state (a shadow-clean slot goes back to mirrored), not %s → %s", old.State, sl.State)
	case moved && sl.State == registry.SlotShadowClean:
		return "a shadow-clean slot whose locations change goes back to mirrored (its clean run did not cover the new locations)"
	}
	return ""
}
