package mupdateserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/xdg-go/scram"

	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

type scramCreds = scram.StoredCredentials

var (
	errSASLCancel = errors.New("client canceled authentication")
	errSASLFail   = errors.New("authentication failed")
)

// authenticate runs AUTHENTICATE in Cyrus's wire format: challenges are
// bare base64 lines (an empty challenge is an empty line), responses bare
// base64 lines, "*" cancels; SCRAM's final server message is one more
// challenge, answered by an empty line. Every failure is
// `NO "undefined error!"` after FailedLoginPause, as Cyrus words it.
func (c *conn) authenticate(ctx context.Context, tag string, args []string) bool {
	mech := strings.ToUpper(args[0])
	var ir []byte
	hasIR := len(args) > 1
	var user string
	err := func() error {
		if !slices.Contains(c.mechanisms(), mech) {
			return errSASLFail
		}
		if hasIR && args[1] != "=" {
			b, err := base64.StdEncoding.DecodeString(args[1])
			if err != nil {
				return errSASLFail
			}
			ir = b
		}
		first := ir
		if !hasIR {
			var err error
			if first, err = c.challenge(nil); err != nil {
				return err
			}
		}
		var err error
		if mech == creds.PLAIN {
			user, err = c.plain(ctx, first)
		} else {
			user, err = c.scram(mech, first)
		}
		return err
	}()
	if err == nil && !c.s.isAdmin(user) && !c.s.cfg.AllowReadOnly {
		c.log.Info("mupdate: login refused, not an admin", "user", user, "mech", mech)
		err = errSASLFail
	}
	if err == nil && !c.s.loggedIn(c) {
		return false // closed to make room while it was logging in
	}
	switch {
	case err == nil:
		c.userid = user
		c.writer = c.s.isAdmin(user)
		c.log = c.log.With("user", user)
		c.log.Info("mupdate: login", "mech", mech, "tls", c.tls, "writer", c.writer)
		return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindOK, textAuthenticated) }) == nil
	case errors.Is(err, errSASLCancel):
		return c.write(false, func(e *wire.Encoder) { e.StatusRaw(tag, wire.KindNO, textCanceled) }) == nil
	case errors.Is(err, errSASLFail):
		c.log.Info("mupdate: badlogin", "mech", mech, "user", user)
		if p := c.s.cfg.FailedLoginPause; p > 0 {
			t := time.NewTimer(p)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return false
			}
		}
		return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindNO, textAuthFailed) }) == nil
	default: // I/O error or input over a limit: the session is over
		c.ended(ctx, err) // a BYE when the login deadline passed
		return false
	}
}

// challenge sends one challenge line (nil: an empty line) and reads the
// client's response line.
func (c *conn) challenge(data []byte) ([]byte, error) {
	if err := c.write(true, func(e *wire.Encoder) { e.Line(base64.StdEncoding.EncodeToString(data)) }); err != nil {
		return nil, err
	}
	c.raw.SetReadDeadline(c.deadline(c.s.cfg.CommandTimeout))
	line, err := c.dec.ReadLine()
	if err != nil {
		return nil, err
	}
	if line == "*" {
		return nil, errSASLCancel
	}
	b, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		return nil, errSASLFail
	}
	return b, nil
}

func (c *conn) plain(ctx context.Context, msg []byte) (string, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", errSASLFail
	}
	authz, authc, pw := string(parts[0]), string(parts[1]), string(parts[2])
	if authc == "" || (authz != "" && authz != authc) {
		return authc, errSASLFail
	}
	if cv, ok := c.s.cfg.Auth.(ContextVerifier); ok {
		ok, err := cv.VerifyPlainContext(ctx, authc, pw)
		if err != nil {
			c.log.Error("mupdate: password check failed", "user", authc, "err", err)
		}
		if !ok {
			return authc, errSASLFail
		}
		return authc, nil
	}
	if !c.s.cfg.Auth.VerifyPlain(authc, pw) {
		return authc, errSASLFail
	}
	return authc, nil
}

func (c *conn) scram(mech string, first []byte) (string, error) {
	hf := creds.HashFunc(mech)
	if hf == nil {
		return "", errSASLFail
	}
	srv, err := hf.NewServer(func(name string) (sc scramCreds, err error) {
		return c.s.cfg.Auth.SCRAM(mech, name)
	})
	if err != nil {
		return "", errSASLFail
	}
	conv := srv.NewConversation()
	s1, err := conv.Step(string(first))
	if err != nil {
		return conv.Username(), errSASLFail
	}
	c2, err := c.challenge([]byte(s1))
	if err != nil {
		return conv.Username(), err
	}
	s2, err := conv.Step(string(c2))
	if err != nil || !conv.Valid() {
		return conv.Username(), errSASLFail
	}
	last, err := c.challenge([]byte(s2))
	if err != nil {
		return conv.Username(), err
	}
	if len(last) != 0 {
		return conv.Username(), errSASLFail
	}
	user := conv.Username()
	if az := conv.AuthzID(); az != "" && az != user {
		return user, errSASLFail
	}
	return user, nil
}
