package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// nginx's auth_http texts.
const (
	authInvalid   = "Invalid login or password"
	authTemporary = "Temporary server problem, try again later"
)

// authHTTP answers nginx's mail auth_http request. The bridge does not check
// the password: nginx passes the client's LOGIN/AUTHENTICATE on to the
// backend it is sent to, and that backend's Cyrus checks it (pass-through).
// The user is routed to the server of the preferred primary location of
// their INBOX; a server name "host:port" gives both, a bare host gets the
// protocol's port (AuthPorts). nginx needs an IP address: host names are
// resolved here.
func (s *Server) authHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	fail := func(code int, status string, wait bool) {
		h.Set("Auth-Status", status)
		if wait {
			h.Set("Auth-Wait", strconv.Itoa(int(s.cfg.AuthWait/time.Second)))
		}
		if r.Header.Get("Auth-Protocol") == "smtp" {
			if status == authInvalid {
				h.Set("Auth-Error-Code", "535 5.7.8")
			} else {
				h.Set("Auth-Error-Code", "451 4.3.0")
			}
		}
		w.WriteHeader(code)
	}
	user := r.Header.Get("Auth-User")
	proto := strings.ToLower(r.Header.Get("Auth-Protocol"))
	if user == "" || proto == "" {
		s.log.Info("auth_http: request without Auth-User or Auth-Protocol", "remote", r.RemoteAddr)
		fail(http.StatusBadRequest, authInvalid, false)
		return
	}
	switch m := strings.ToLower(r.Header.Get("Auth-Method")); m {
	case "", "plain", "login", "none":
	default:
		// cram-md5, apop, external: nginx would need the plain password
		// back in Auth-Pass, which a pass-through bridge does not have
		s.log.Info("auth_http: method needs the password from the auth server; configure nginx with imap_auth login plain", "method", m, "user", user)
		fail(http.StatusOK, authInvalid, true)
		return
	}
	defPort, ok := s.cfg.AuthPorts[proto]
	if !ok {
		s.log.Info("auth_http: unknown protocol", "protocol", proto)
		fail(http.StatusBadRequest, authInvalid, false)
		return
	}
	inbox, ok := mboxlist.InboxName(strings.ToLower(user)) // Cyrus's default username_tolower
	if !ok {
		s.log.Info("auth_http: not a Cyrus userid", "user", user)
		fail(http.StatusOK, authInvalid, true)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	e, err := s.cfg.Store.Get(ctx, inbox)
	if errors.Is(err, registry.ErrNotFound) {
		s.log.Info("auth_http: no INBOX", "user", user, "inbox", inbox, "protocol", proto)
		fail(http.StatusOK, authInvalid, true)
		return
	}
	if err != nil {
		s.cfg.Metrics.RegistryError("auth_http")
		s.log.Error("auth_http: registry failed", "user", user, "err", err)
		fail(http.StatusOK, authTemporary, true)
		return
	}
	if e.Type.Has(mboxlist.FlagDeleted) {
		fail(http.StatusOK, authInvalid, true)
		return
	}
	if e.Type.Has(mboxlist.FlagReserve) {
		// being created or moved (XFER): try again shortly
		s.log.Info("auth_http: INBOX is reserved (in transit)", "user", user, "inbox", inbox)
		fail(http.StatusOK, authTemporary, true)
		return
	}
	server := e.Primary().Server
	ip, port, err := s.resolve(ctx, server, defPort)
	if err != nil {
		s.log.Error("auth_http: cannot resolve the backend", "user", user, "server", server, "err", err)
		fail(http.StatusOK, authTemporary, true)
		return
	}
	s.log.Info("auth_http: routed", "user", user, "protocol", proto, "server", server, "ip", ip, "port", port)
	h.Set("Auth-Status", "OK")
	h.Set("Auth-Server", ip)
	h.Set("Auth-Port", strconv.Itoa(port))
	w.WriteHeader(http.StatusOK)
}

// resolve turns a Cyrus server name (host, host:port, [v6]:port) into an IP
// address and port.
func (s *Server) resolve(ctx context.Context, server string, defPort int) (string, int, error) {
	if server == "" {
		return "", 0, errors.New("the INBOX has no server (a local entry)")
	}
	host, port := server, defPort
	if h, p, err := net.SplitHostPort(server); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return "", 0, errors.New("bad port in server name " + strconv.Quote(server))
		}
		host, port = h, n
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), port, nil
	}
	addrs, err := s.cfg.Resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", 0, err
	}
	for _, a := range addrs { // prefer IPv4, as most nginx mail setups listen on it
		if a.IP.To4() != nil {
			return a.IP.String(), port, nil
		}
	}
	if len(addrs) > 0 {
		return addrs[0].IP.String(), port, nil
	}
	return "", 0, errors.New("no address for " + strconv.Quote(host))
}
