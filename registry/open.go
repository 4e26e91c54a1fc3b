package registry

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Opener opens a Store from a parsed URL.
type Opener func(ctx context.Context, u *url.URL, o OpenOptions) (Store, error)

// OpenOptions are the options of OpenWith.
type OpenOptions struct {
	// MustExist refuses a registry that does not exist yet, with an error
	// wrapping ErrNotFound, instead of creating it: what every read-only
	// command wants, so that a mistyped path is an error rather than an
	// empty registry (and a new directory) at that path. A backend that
	// creates nothing when it opens (etcd: a prefix is only a key range)
	// has nothing to refuse and ignores it.
	MustExist bool
}

var (
	openersMu sync.Mutex
	openers   = map[string]Opener{}
)

// Register makes a backend available to Open under a URL scheme; backends
// call it from init.
func Register(scheme string, o Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	openers[scheme] = o
}

// Open opens the registry named by rawURL: `leveldb:///path/to/dir` or
// `etcd://host:port,host:port/prefix`. The backend's package must be linked
// (import github.com/murderkit/murderkit/registry/backends).
func Open(ctx context.Context, rawURL string) (Store, error) {
	return OpenWith(ctx, rawURL, OpenOptions{})
}

// OpenExisting opens the registry named by rawURL only if it exists
// (OpenOptions.MustExist): for read-only commands.
func OpenExisting(ctx context.Context, rawURL string) (Store, error) {
	return OpenWith(ctx, rawURL, OpenOptions{MustExist: true})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, rawURL string, o OpenOptions) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &Error{Op: "open", Err: fmt.Errorf("bad registry URL %q: %v: %w", rawURL, err, ErrInvalid)}
	}
	openersMu.Lock()
	opener := openers[u.Scheme]
	var known []string
	for k := range openers {
		known = append(known, k+"://")
	}
	openersMu.Unlock()
	if opener == nil {
		sort.Strings(known)
		return nil, &Error{Op: "open", Err: fmt.Errorf("registry URL %q: unknown scheme %q (known: %s): %w", rawURL, u.Scheme, strings.Join(known, ", "), ErrInvalid)}
	}
	return opener(ctx, u, o)
}
