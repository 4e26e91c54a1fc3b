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
type Opener func(ctx context.Context, u *url.URL) (Store, error)

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
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &Error{Op: "open", Err: fmt.Errorf("bad registry URL %q: %v: %w", rawURL, err, ErrInvalid)}
	}
	openersMu.Lock()
	o := openers[u.Scheme]
	var known []string
	for k := range openers {
		known = append(known, k+"://")
	}
	openersMu.Unlock()
	if o == nil {
		sort.Strings(known)
		return nil, &Error{Op: "open", Err: fmt.Errorf("registry URL %q: unknown scheme %q (known: %s): %w", rawURL, u.Scheme, strings.Join(known, ", "), ErrInvalid)}
	}
	return o(ctx, u)
}
