package shadow

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/murderkit/murderkit/mboxlist"
)

// User is one user to compare: a Cyrus userid (local[@domain]) and, unless
// an admin authorizes as the user, the user's own password.
type User struct {
	Name     string
	Password string
}

// Source produces what one side shows a user.
type Source interface {
	// List returns the user's normalised LIST "" "*".
	List(ctx context.Context, u User) (*Listing, error)
	// String names the side in reports (never with a password).
	String() string
}

// IMAPSource logs in to an IMAP server (a Cyrus frontend, old or new) as
// each user and runs LIST "" "*" there.
type IMAPSource struct {
	// URL is imap://host[:143] (plaintext LOGIN; STARTTLS when the server
	// offers it) or imaps://host[:993] (implicit TLS).
	URL *url.URL
	// TLSConfig verifies the server; ServerName defaults to the URL host.
	TLSConfig *tls.Config
	// ProxyUser and ProxyPassword, when set, authenticate as an admin with
	// SASL PLAIN and authorize as the user (authzid). The listing is then
	// checked to be the user's own view.
	ProxyUser, ProxyPassword string
	// NoExtended forces plain LIST even where LIST-EXTENDED is offered.
	NoExtended bool

	probeMu  sync.Mutex // held while probing; a failed probe is tried again by the next user
	probed   bool
	startTLS bool
}

// ErrNotOwnView is returned when, authorized as a user, the session shows
// the user's own mailboxes as another user's: the server did not honour the
// authzid (it listed as the admin).
var ErrNotOwnView = errors.New("shadow: the session does not show the user's own view (authzid not honoured?)")

// ParseIMAPURL checks an imap:// or imaps:// URL.
func ParseIMAPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "imap" && u.Scheme != "imaps" {
		return nil, fmt.Errorf("shadow: %q: scheme must be imap or imaps", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("shadow: %q: no host", s)
	}
	if u.User != nil {
		return nil, fmt.Errorf("shadow: %q: put credentials in --users or --proxy-password-file, not in the URL", s)
	}
	return u, nil
}

func (s *IMAPSource) String() string { return s.URL.Scheme + "://" + s.URL.Host }

func (s *IMAPSource) addr() string {
	if s.URL.Port() != "" {
		return s.URL.Host
	}
	if s.URL.Scheme == "imaps" {
		return net.JoinHostPort(s.URL.Hostname(), "993")
	}
	return net.JoinHostPort(s.URL.Hostname(), "143")
}

func (s *IMAPSource) tlsConfig() *tls.Config {
	c := &tls.Config{}
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.URL.Hostname()
	}
	return c
}

// dial connects and returns a client in the not-authenticated state. The
// connection is closed when ctx ends.
func (s *IMAPSource) dial(ctx context.Context, startTLS bool) (*imapclient.Client, func(), error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	cleanup := func() { stop(); conn.Close() }
	opts := &imapclient.Options{TLSConfig: s.tlsConfig()}
	var c *imapclient.Client
	switch {
	case s.URL.Scheme == "imaps":
		tc := tls.Client(conn, opts.TLSConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			cleanup()
			return nil, nil, err
		}
		c = imapclient.New(tc, opts)
	case startTLS:
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("STARTTLS: %w", err)
		}
	default:
		c = imapclient.New(conn, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		cleanup()
		return nil, nil, err
	}
	return c, func() { c.Close(); cleanup() }, nil
}

// probeTLS learns once whether an imap:// server offers STARTTLS.
func (s *IMAPSource) probeTLS(ctx context.Context) error {
	if s.URL.Scheme != "imap" {
		return nil
	}
	// A mutex, not a sync.Once reset after a failure: resetting a Once
	// while another worker waits in its Do strands that worker for ever
	// (seen as a shadow that did not stop after an interrupt).
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if s.probed {
		return nil
	}
	c, done, err := s.dial(ctx, false)
	if err != nil {
		return err
	}
	defer done()
	caps := c.Caps()
	if caps == nil {
		return errors.New("no CAPABILITY answer")
	}
	s.startTLS = caps.Has(imap.CapStartTLS)
	c.Logout().Wait()
	s.probed = true
	return nil
}

// List logs in as u and lists.
func (s *IMAPSource) List(ctx context.Context, u User) (*Listing, error) {
	if err := s.probeTLS(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	c, done, err := s.dial(ctx, s.startTLS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	defer done()
	if s.ProxyUser != "" {
		err = c.Authenticate(sasl.NewPlainClient(u.Name, s.ProxyUser, s.ProxyPassword))
	} else if c.Caps().Has(imap.CapLoginDisabled) {
		err = c.Authenticate(sasl.NewPlainClient("", u.Name, u.Password))
	} else {
		err = c.Login(u.Name, u.Password).Wait()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: log in as %s: %w", s, u.Name, err)
	}
	caps, err := c.Capability().Wait()
	if err != nil {
		return nil, fmt.Errorf("%s: CAPABILITY: %w", s, err)
	}
	l := &Listing{}
	if caps.Has(imap.CapNamespace) {
		nd, err := c.Namespace().Wait()
		if err != nil {
			return nil, fmt.Errorf("%s: NAMESPACE: %w", s, err)
		}
		l.Namespace = namespaceOf(nd)
	}
	var opts *imap.ListOptions
	if !s.NoExtended && caps.Has(imap.CapListExtended) && caps.Has(imap.CapSpecialUse) && caps.Has(imap.CapChildren) {
		opts = &imap.ListOptions{ReturnSubscribed: true, ReturnSpecialUse: true, ReturnChildren: true}
		l.Extended = true
	}
	data, err := c.List("", "*", opts).Collect()
	if err != nil {
		return nil, fmt.Errorf("%s: LIST: %w", s, err)
	}
	for _, d := range data {
		m := Mailbox{Name: d.Mailbox, Attrs: make([]string, 0, len(d.Attrs))}
		if m.Name != "INBOX" {
			m.Name = EncodeMUTF7(d.Mailbox)
		}
		if d.Delim != 0 {
			m.Delim = string(d.Delim)
		}
		for _, a := range d.Attrs {
			m.Attrs = append(m.Attrs, string(a))
		}
		l.Mailboxes = append(l.Mailboxes, m)
	}
	c.Logout().Wait()
	Normalize(l)
	if s.ProxyUser != "" && l.Namespace != nil && l.Namespace.HasOther {
		local, _ := mboxlist.SplitUserID(u.Name)
		self := l.Namespace.Other + externalPart(local, l.Namespace.Delim)
		for _, m := range l.Mailboxes {
			if m.Name == self || strings.HasPrefix(m.Name, self+l.Namespace.Delim) {
				return nil, fmt.Errorf("%s: as %s (authorized by %s) %q is listed: %w", s, u.Name, s.ProxyUser, m.Name, ErrNotOwnView)
			}
		}
	}
	return l, nil
}

func namespaceOf(nd *imap.NamespaceData) *Namespace {
	ns := &Namespace{}
	if len(nd.Personal) > 0 {
		ns.Personal = EncodeMUTF7(nd.Personal[0].Prefix)
		if nd.Personal[0].Delim != 0 {
			ns.Delim = string(nd.Personal[0].Delim)
		}
	}
	if len(nd.Other) > 0 {
		ns.Other, ns.HasOther = EncodeMUTF7(nd.Other[0].Prefix), true
		if ns.Delim == "" && nd.Other[0].Delim != 0 {
			ns.Delim = string(nd.Other[0].Delim)
		}
	}
	if len(nd.Shared) > 0 {
		ns.Shared, ns.HasShared = EncodeMUTF7(nd.Shared[0].Prefix), true
		if ns.Delim == "" && nd.Shared[0].Delim != 0 {
			ns.Delim = string(nd.Shared[0].Delim)
		}
	}
	return ns
}

// Owners logs in as ProxyUser itself (an admin, no authzid) and returns
// every user owning a mailbox, from the admin's LIST "" "*": the first
// level below the other-users prefix, with "@domain" kept (Cyrus shows an
// admin domain mailboxes as user.carol.Drafts@example.com).
func (s *IMAPSource) Owners(ctx context.Context) ([]string, error) {
	if s.ProxyUser == "" {
		return nil, errors.New("shadow: listing owners needs an admin (--proxy-user)")
	}
	if err := s.probeTLS(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	c, done, err := s.dial(ctx, s.startTLS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	defer done()
	if err := c.Authenticate(sasl.NewPlainClient("", s.ProxyUser, s.ProxyPassword)); err != nil {
		return nil, fmt.Errorf("%s: log in as %s: %w", s, s.ProxyUser, err)
	}
	nd, err := c.Namespace().Wait()
	if err != nil {
		return nil, fmt.Errorf("%s: NAMESPACE: %w", s, err)
	}
	ns := namespaceOf(nd)
	if !ns.HasOther || ns.Delim == "" {
		return nil, fmt.Errorf("%s: NAMESPACE announces no other users' namespace", s)
	}
	data, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("%s: LIST: %w", s, err)
	}
	c.Logout().Wait()
	var out []string
	seen := map[string]bool{}
	for _, d := range data {
		name := EncodeMUTF7(d.Mailbox)
		domain := ""
		if i := strings.LastIndexByte(name, '@'); i >= 0 {
			name, domain = name[:i], name[i+1:]
		}
		if !strings.HasPrefix(name, ns.Other) {
			continue
		}
		local, _, _ := strings.Cut(name[len(ns.Other):], ns.Delim)
		if local == "" {
			continue
		}
		if ns.Delim == "." {
			local = strings.ReplaceAll(local, "^", ".")
		}
		u := local
		if domain != "" {
			u += "@" + domain
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out, nil
}

// ErrProxyRefused: the server refused ProxyUser's own credentials (a tagged
// NO to its login): no user can be compared through it.
var ErrProxyRefused = errors.New("the server refused the proxy (admin) user's credentials")

// CheckProxy logs in as ProxyUser itself, once, and logs out: a wrong admin
// password is then one clear error (wrapping ErrProxyRefused) instead of a
// failed login for every user. A network error is returned as it is.
func (s *IMAPSource) CheckProxy(ctx context.Context) error {
	if s.ProxyUser == "" {
		return nil
	}
	if err := s.probeTLS(ctx); err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	c, done, err := s.dial(ctx, s.startTLS)
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	defer done()
	if err := c.Authenticate(sasl.NewPlainClient("", s.ProxyUser, s.ProxyPassword)); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return fmt.Errorf("%s: log in as %s: %v: %w", s, s.ProxyUser, err, ErrProxyRefused)
		}
		return fmt.Errorf("%s: log in as %s: %w", s, s.ProxyUser, err)
	}
	c.Logout().Wait()
	return nil
}
