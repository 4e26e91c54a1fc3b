package creds

import (
	"bufio"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/xdg-go/scram"
	"github.com/xdg-go/stringprep"
)

// SCRAM mechanism names this package serves, strongest first.
const (
	SCRAMSHA512 = "SCRAM-SHA-512"
	SCRAMSHA256 = "SCRAM-SHA-256"
	SCRAMSHA1   = "SCRAM-SHA-1"
	PLAIN       = "PLAIN"
)

// SCRAMMechanisms lists the SCRAM mechanisms in the order Cyrus offers them.
var SCRAMMechanisms = []string{SCRAMSHA512, SCRAMSHA256, SCRAMSHA1}

// DefaultIterations is the PBKDF2 count Hash uses (Cyrus's default).
const DefaultIterations = 4096

// HashFunc returns the hash of a SCRAM mechanism, or nil.
func HashFunc(mech string) scram.HashGeneratorFcn {
	switch mech {
	case SCRAMSHA1:
		return scram.SHA1
	case SCRAMSHA256:
		return scram.SHA256
	case SCRAMSHA512:
		return scram.SHA512
	}
	return nil
}

func newHash(mech string) func() hash.Hash {
	switch mech {
	case SCRAMSHA1:
		return sha1.New
	case SCRAMSHA256:
		return sha256.New
	case SCRAMSHA512:
		return sha512.New
	}
	return nil
}

// SyntaxError reports a bad line of a credentials file (never its secret).
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("creds: %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("creds: line %d: %s", e.Line, e.Msg)
}

// Store is a parsed credentials file. It is safe for concurrent use.
type Store struct {
	users map[string]*user
}

type user struct {
	plain    string // SASLprep'ed password, when given in plain
	hasPlain bool
	scram    map[string]scram.StoredCredentials

	mu      sync.Mutex
	derived map[string]scram.StoredCredentials // from plain, per mechanism
}

// Load reads the file at path.
func Load(path string) (*Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("creds: %w", err)
	}
	defer f.Close()
	s, err := parse(f, path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Parse reads a credentials file from r.
func Parse(r io.Reader) (*Store, error) { return parse(r, "") }

func parse(r io.Reader, name string) (*Store, error) {
	s := &Store{users: map[string]*user{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		bad := func(msg string) error { return &SyntaxError{File: name, Line: n, Msg: msg} }
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			return nil, bad("want name:secret")
		}
		uname, secret := line[:i], line[i+1:]
		u := s.users[uname]
		if u == nil {
			u = &user{scram: map[string]scram.StoredCredentials{}, derived: map[string]scram.StoredCredentials{}}
			s.users[uname] = u
		}
		scheme, rest := "", secret
		if strings.HasPrefix(secret, "{") {
			if j := strings.IndexByte(secret, '}'); j > 0 {
				scheme, rest = strings.ToUpper(secret[1:j]), secret[j+1:]
			}
		}
		switch scheme {
		case "":
			if err := u.setPlain(secret); err != nil {
				return nil, bad(err.Error())
			}
		case PLAIN:
			if err := u.setPlain(rest); err != nil {
				return nil, bad(err.Error())
			}
		case SCRAMSHA1, SCRAMSHA256, SCRAMSHA512:
			sc, err := parseSCRAM(scheme, rest)
			if err != nil {
				return nil, bad(err.Error())
			}
			if _, dup := u.scram[scheme]; dup {
				return nil, bad("second " + scheme + " secret for " + strconv.Quote(uname))
			}
			u.scram[scheme] = sc
		default:
			return nil, bad("unknown scheme {" + scheme + "}")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("creds: %w", err)
	}
	return s, nil
}

func (u *user) setPlain(pw string) error {
	if u.hasPlain {
		return errors.New("second plain password")
	}
	p, err := stringprep.SASLprep.Prepare(pw)
	if err != nil {
		return errors.New("password is not valid for SASLprep")
	}
	u.plain, u.hasPlain = p, true
	return nil
}

func parseSCRAM(mech, s string) (scram.StoredCredentials, error) {
	f := strings.Split(s, "$")
	if len(f) != 4 {
		return scram.StoredCredentials{}, errors.New(mech + ": want SALT$ITER$STOREDKEY$SERVERKEY")
	}
	salt, err1 := base64.StdEncoding.DecodeString(f[0])
	iter, err2 := strconv.Atoi(f[1])
	stored, err3 := base64.StdEncoding.DecodeString(f[2])
	server, err4 := base64.StdEncoding.DecodeString(f[3])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return scram.StoredCredentials{}, errors.New(mech + ": bad base64 or iteration count")
	}
	size := newHash(mech)().Size()
	if len(stored) != size || len(server) != size {
		return scram.StoredCredentials{}, fmt.Errorf("%s: keys must be %d bytes", mech, size)
	}
	if iter < 4096 || len(salt) == 0 {
		return scram.StoredCredentials{}, errors.New(mech + ": need a salt and at least 4096 iterations")
	}
	return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: iter}, StoredKey: stored, ServerKey: server}, nil
}

// derive computes SCRAM stored credentials from a (prepared) password.
func derive(mech, password string, salt []byte, iter int) (scram.StoredCredentials, error) {
	h := newHash(mech)
	if h == nil {
		return scram.StoredCredentials{}, errors.New("creds: unknown mechanism " + mech)
	}
	salted, err := pbkdf2.Key(h, password, salt, iter, h().Size())
	if err != nil {
		return scram.StoredCredentials{}, fmt.Errorf("creds: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: iter},
		StoredKey:  sum.Sum(nil),
		ServerKey:  mac(salted, "Server Key"),
	}, nil
}

// Hash returns the secret part of a credentials line for password under a
// SCRAM mechanism, with a fresh random salt: `{SCRAM-SHA-256}SALT$ITER$...`.
// iter 0 means DefaultIterations.
func Hash(mech, password string, iter int) (string, error) {
	if newHash(mech) == nil {
		return "", errors.New("creds: unknown mechanism " + mech)
	}
	if iter == 0 {
		iter = DefaultIterations
	}
	if iter < 4096 {
		return "", errors.New("creds: at least 4096 iterations")
	}
	p, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		return "", errors.New("creds: password is not valid for SASLprep")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	sc, err := derive(mech, p, salt, iter)
	if err != nil {
		return "", err
	}
	b := base64.StdEncoding
	return "{" + mech + "}" + b.EncodeToString(salt) + "$" + strconv.Itoa(iter) + "$" +
		b.EncodeToString(sc.StoredKey) + "$" + b.EncodeToString(sc.ServerKey), nil
}

// Names returns the user names, sorted.
func (s *Store) Names() []string {
	out := make([]string, 0, len(s.users))
	for n := range s.users {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// VerifyPlain checks a PLAIN password for name.
func (s *Store) VerifyPlain(name, password string) bool {
	u := s.users[name]
	if u == nil {
		return false
	}
	p, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		return false
	}
	if u.hasPlain {
		return subtle.ConstantTimeCompare([]byte(p), []byte(u.plain)) == 1
	}
	for _, mech := range SCRAMMechanisms { // strongest hash first
		sc, ok := u.scram[mech]
		if !ok {
			continue
		}
		got, err := derive(mech, p, []byte(sc.Salt), sc.Iters)
		if err != nil {
			return false
		}
		return subtle.ConstantTimeCompare(got.StoredKey, sc.StoredKey) == 1
	}
	return false
}

// ErrNoCredentials is returned by SCRAM when the user has no secret usable
// with the mechanism.
var ErrNoCredentials = errors.New("creds: no credentials for this mechanism")

// SCRAM returns the stored credentials of name for a SCRAM mechanism.
func (s *Store) SCRAM(mech, name string) (scram.StoredCredentials, error) {
	u := s.users[name]
	if u == nil || newHash(mech) == nil {
		return scram.StoredCredentials{}, ErrNoCredentials
	}
	if sc, ok := u.scram[mech]; ok {
		return sc, nil
	}
	if !u.hasPlain {
		return scram.StoredCredentials{}, ErrNoCredentials
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if sc, ok := u.derived[mech]; ok {
		return sc, nil
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	sc, err := derive(mech, u.plain, salt, DefaultIterations)
	if err != nil {
		return scram.StoredCredentials{}, err
	}
	u.derived[mech] = sc
	return sc, nil
}

// CommonMechanisms returns the SCRAM mechanisms (strongest first) that
// every user in the store can use; a server offers these by default.
func (s *Store) CommonMechanisms() []string {
	var out []string
	for _, mech := range SCRAMMechanisms {
		all := true
		for _, u := range s.users {
			if _, ok := u.scram[mech]; !ok && !u.hasPlain {
				all = false
				break
			}
		}
		if all {
			out = append(out, mech)
		}
	}
	return out
}

// FromPlain makes a Store of plain passwords (name → password), as from
// another source of clear passwords (sasldb). Users whose password is not
// valid for SASLprep are left out and named in skipped.
func FromPlain(passwords map[string]string) (s *Store, skipped []string) {
	s = &Store{users: make(map[string]*user, len(passwords))}
	for name, pw := range passwords {
		u := &user{scram: map[string]scram.StoredCredentials{}, derived: map[string]scram.StoredCredentials{}}
		if err := u.setPlain(pw); err != nil {
			skipped = append(skipped, name)
			continue
		}
		s.users[name] = u
	}
	return s, skipped
}
