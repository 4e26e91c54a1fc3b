package sasldb

import (
	"context"
	"crypto/subtle"
	"strings"
	"sync"

	"github.com/xdg-go/scram"

	"github.com/murderkit/murderkit/mupdate/creds"
)

// Verifier is a PLAIN check asked after sasldb (saslauthd for
// `sasl_pwcheck_method: auxprop saslauthd`).
type Verifier interface {
	VerifyPlainContext(ctx context.Context, name, password string) (bool, error)
}

// Auth is a mupdateserver.Authenticator that checks passwords against a
// sasldb file as libsasl's sasldb auxprop does for Cyrus's mupdate: a
// name without '@' is looked up in Realm (Cyrus passes its servername as
// the server's FQDN and no user realm, and libsasl then takes the FQDN as
// the realm); a name with '@' is split at the first '@' into user and
// realm. The password is the entry's userPassword, compared byte for byte.
// SCRAM is served from the same clear passwords.
type Auth struct {
	File  *File
	Realm string
	// Store (the --credentials file), when set, is asked first.
	Store *creds.Store
	// Next, when set, is asked when sasldb does not accept the password.
	Next Verifier
	// Logf, when set, is told why sasldb could not be read.
	Logf func(format string, args ...any)

	mu      sync.Mutex
	scramDB *DB
	scramSt *creds.Store
}

// split is libsasl's parse of a login name into user and realm.
func (a *Auth) split(name string) (user, realm string) {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, a.Realm
}

// VerifyPlainContext checks name's password: false with a nil error is a
// rejection; an error means sasldb could not be read (and Next, if any,
// did not accept the password either).
func (a *Auth) VerifyPlainContext(ctx context.Context, name, password string) (bool, error) {
	if a.Store != nil && a.Store.VerifyPlain(name, password) {
		return true, nil
	}
	db, err := a.File.Load(ctx)
	if err != nil {
		if a.Logf != nil {
			a.Logf("%v", err)
		}
	} else {
		user, realm := a.split(name)
		if v, ok := db.Get(user, realm, PasswordProp); ok && len(v) == len(password) &&
			subtle.ConstantTimeCompare(v, []byte(password)) == 1 {
			return true, nil
		}
	}
	if a.Next != nil {
		ok, nerr := a.Next.VerifyPlainContext(ctx, name, password)
		if ok || nerr != nil {
			return ok, nerr
		}
	}
	return false, err
}

// VerifyPlain is VerifyPlainContext without a caller's context.
func (a *Auth) VerifyPlain(name, password string) bool {
	ok, _ := a.VerifyPlainContext(context.Background(), name, password)
	return ok
}

// SCRAM serves the Store's credentials, then keys derived from sasldb's
// clear password (a fresh salt each time the file changes).
func (a *Auth) SCRAM(mech, name string) (scram.StoredCredentials, error) {
	if a.Store != nil {
		if sc, err := a.Store.SCRAM(mech, name); err == nil {
			return sc, nil
		}
	}
	db, err := a.File.Load(context.Background())
	if err != nil {
		if a.Logf != nil {
			a.Logf("%v", err)
		}
		return scram.StoredCredentials{}, err
	}
	a.mu.Lock()
	if a.scramDB != db {
		pw := map[string]string{}
		for _, e := range db.Entries {
			u, r, p, ok := SplitKey(e.Key)
			if !ok || p != PasswordProp {
				continue
			}
			pw[u+"@"+r] = string(e.Value)
		}
		a.scramSt, _ = creds.FromPlain(pw)
		a.scramDB = db
	}
	st := a.scramSt
	a.mu.Unlock()
	user, realm := a.split(name)
	return st.SCRAM(mech, user+"@"+realm)
}

// Mechanisms is what a server with this Auth offers: SCRAM (strongest
// first), then PLAIN, as Cyrus's mupdate does with sasldb.
func (a *Auth) Mechanisms() []string {
	return append(append([]string(nil), creds.SCRAMMechanisms...), creds.PLAIN)
}
