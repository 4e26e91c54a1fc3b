package sasldb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultPath is libsasl's default sasldb (sasl_sasldb_path unset).
const DefaultPath = "/etc/sasldb2"

// PasswordProp is the property holding a password in clear.
const PasswordProp = "userPassword"

// Key is the sasldb key of a user's property: user NUL realm NUL prop.
func Key(user, realm, prop string) []byte {
	return []byte(user + "\x00" + realm + "\x00" + prop)
}

// SplitKey splits a sasldb key into user, realm and property; ok is false
// when the key does not have exactly that shape.
func SplitKey(k []byte) (user, realm, prop string, ok bool) {
	parts := bytes.Split(k, []byte{0})
	if len(parts) != 3 {
		return "", "", "", false
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), true
}

// DB is the parsed content of a sasldb file.
type DB struct {
	Meta    Meta
	Entries []Entry
	byKey   map[string][]byte
}

// New indexes entries.
func New(m Meta, entries []Entry) *DB {
	db := &DB{Meta: m, Entries: entries, byKey: make(map[string][]byte, len(entries))}
	for _, e := range entries {
		db.byKey[string(e.Key)] = e.Value
	}
	return db
}

// Get returns the value of user's prop in realm.
func (db *DB) Get(user, realm, prop string) ([]byte, bool) {
	v, ok := db.byKey[string(Key(user, realm, prop))]
	return v, ok
}

// Retry policy for a file being rewritten under the reader.
const (
	readTries = 5
	retryWait = 20 * time.Millisecond
)

// File is a sasldb file read on demand: the whole file is read again when
// its size or modification time changed since the last read. Safe for
// concurrent use.
type File struct {
	Path string

	mu    sync.Mutex
	db    *DB
	size  int64
	mtime time.Time
}

// Open returns a File for path (DefaultPath when empty) after one
// successful read, so that a missing or malformed file is found at start.
func Open(ctx context.Context, path string) (*File, error) {
	if path == "" {
		path = DefaultPath
	}
	f := &File{Path: path}
	if _, err := f.Load(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// Load returns the file's content, reading it again when it changed. A
// read that fails to parse, or during which the file changed, is tried
// again up to a few times (libsasl rewrites pages in place without
// locking); the last error is returned after that.
func (f *File) Load(ctx context.Context) (*DB, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var last error
	for try := 0; try < readTries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(retryWait):
			}
		}
		st, err := os.Stat(f.Path)
		if err != nil {
			return nil, fmt.Errorf("sasldb: %w", err)
		}
		if f.db != nil && st.Size() == f.size && st.ModTime().Equal(f.mtime) {
			return f.db, nil
		}
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("sasldb: %w", err)
		}
		st2, err := os.Stat(f.Path)
		if err != nil {
			return nil, fmt.Errorf("sasldb: %w", err)
		}
		if st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) || int64(len(data)) != st.Size() {
			last = fmt.Errorf("sasldb: %s changed while it was read", f.Path)
			continue
		}
		m, entries, err := Parse(data)
		if err != nil {
			var fe *FormatError
			if errors.As(err, &fe) {
				last = fmt.Errorf("%s: %w", f.Path, err)
				continue
			}
			return nil, err
		}
		f.db, f.size, f.mtime = New(m, entries), st.Size(), st.ModTime()
		return f.db, nil
	}
	return nil, fmt.Errorf("%w (read %d times)", last, readTries)
}
