package saslauthd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/xdg-go/scram"

	"github.com/murderkit/murderkit/mupdate/creds"
)

// DefaultPath is libsasl's default socket (Debian's PATH_SASLAUTHD_RUNDIR
// "/var/run/saslauthd" and "/mux").
const DefaultPath = "/var/run/saslauthd/mux"

// DefaultService is the service name Cyrus's mupdate gives libsasl
// (sasl_server_new("mupdate", ...)); saslauthd passes it to its PAM module.
const DefaultService = "mupdate"

// DefaultTimeout bounds one check (connect, write, read).
const DefaultTimeout = 10 * time.Second

// maxRequest is the request size libsasl allows (its 8192-byte buffer less
// 30 bytes of slack); maxAnswer its answer buffer less the terminator.
const (
	maxRequest = 8192 - 30
	maxAnswer  = 1023
)

// ErrRejected is wrapped by the error of a check saslauthd answered "NO".
var ErrRejected = errors.New("saslauthd: password rejected")

// UnavailableError is a check that could not be asked or answered: no
// saslauthd on the socket, a timeout, a malformed answer.
type UnavailableError struct {
	Path string
	Err  error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("saslauthd at %s: %v", e.Path, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Client asks one saslauthd. The zero value uses DefaultPath,
// DefaultService, an empty realm and DefaultTimeout.
type Client struct {
	Path    string
	Service string
	// Realm is sent for users without '@' (Cyrus's mupdate sends none;
	// saslauthd -a sasldb then uses its host name).
	Realm   string
	Timeout time.Duration
}

func (c *Client) path() string {
	if c.Path == "" {
		return DefaultPath
	}
	return c.Path
}

// Request builds the request bytes for user and password as libsasl does.
func (c *Client) Request(user, password string) ([]byte, error) {
	service := c.Service
	if service == "" {
		service = DefaultService
	}
	realm := c.Realm
	if i := strings.LastIndexByte(user, '@'); i >= 0 {
		user, realm = user[:i], user[i+1:]
	}
	fields := []string{user, password, service, realm}
	n := 0
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return nil, errors.New("saslauthd: a NUL byte in the user, password, service or realm")
		}
		n += len(f)
	}
	if n > maxRequest-8 {
		return nil, fmt.Errorf("saslauthd: request of %d bytes is too large (libsasl's limit is %d)", n+8, maxRequest)
	}
	b := make([]byte, 0, n+8)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

// Verify asks saslauthd about user's password: nil when it answers OK, an
// error wrapping ErrRejected (with saslauthd's reason) when it answers NO,
// an *UnavailableError when it cannot be asked or its answer is malformed.
func (c *Client) Verify(ctx context.Context, user, password string) error {
	req, err := c.Request(user, password)
	if err != nil {
		return err
	}
	to := c.Timeout
	if to <= 0 {
		to = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	unavailable := func(err error) error { return &UnavailableError{Path: c.path(), Err: err} }
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path())
	if err != nil {
		return unavailable(fmt.Errorf("cannot connect (is saslauthd running, and is its socket directory searchable by this user?): %w", err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		return unavailable(fmt.Errorf("writing the request: %w", err))
	}
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return unavailable(fmt.Errorf("reading the answer's length: %w", err))
	}
	count := int(binary.BigEndian.Uint16(hdr[:]))
	if count < 2 {
		return unavailable(fmt.Errorf("bad answer: length %d (want at least 2)", count))
	}
	// libsasl reads at most its buffer's worth; so do we
	body := make([]byte, min(count, maxAnswer))
	if _, err := io.ReadFull(conn, body); err != nil {
		return unavailable(fmt.Errorf("reading the answer (%d bytes announced): %w", count, err))
	}
	if strings.HasPrefix(string(body), "OK") {
		return nil
	}
	reason := strings.TrimSpace(strings.ToValidUTF8(string(body), "?"))
	return fmt.Errorf("%w: %q", ErrRejected, reason)
}

// Auth is a mupdateserver.Authenticator that checks PLAIN passwords with
// saslauthd. Without a Store it has no SCRAM credentials and offers PLAIN
// alone; with one (`sasl_pwcheck_method: auxprop saslauthd`, the store
// standing for the auxprop), a PLAIN password the store accepts is not sent
// to saslauthd, and SCRAM is served from the store for its users.
type Auth struct {
	Client *Client
	Store  *creds.Store
	// Logf, when set, is told why a check could not be made (never a
	// password).
	Logf func(format string, args ...any)
}

// VerifyPlainContext checks name's password with saslauthd: false with a
// nil error is a rejection; an error means saslauthd could not answer.
func (a *Auth) VerifyPlainContext(ctx context.Context, name, password string) (bool, error) {
	if a.Store != nil && a.Store.VerifyPlain(name, password) {
		return true, nil
	}
	err := a.Client.Verify(ctx, name, password)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrRejected):
		return false, nil
	default:
		if a.Logf != nil {
			a.Logf("%v", err)
		}
		return false, err
	}
}

// VerifyPlain is VerifyPlainContext without a caller's context (the
// client's timeout still bounds it).
func (a *Auth) VerifyPlain(name, password string) bool {
	ok, _ := a.VerifyPlainContext(context.Background(), name, password)
	return ok
}

// SCRAM serves the Store's credentials; saslauthd holds no SCRAM keys.
func (a *Auth) SCRAM(mech, name string) (scram.StoredCredentials, error) {
	if a.Store != nil {
		return a.Store.SCRAM(mech, name)
	}
	return scram.StoredCredentials{}, creds.ErrNoCredentials
}

// Mechanisms is what a server with this Auth offers: the SCRAM mechanisms
// every user of the Store can use (none without a Store), then PLAIN.
func (a *Auth) Mechanisms() []string {
	var out []string
	if a.Store != nil {
		out = a.Store.CommonMechanisms()
	}
	return append(out, creds.PLAIN)
}
