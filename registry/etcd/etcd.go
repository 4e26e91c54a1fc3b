package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/registry"
)

// Key layout under the URL's prefix P (part of the stored format; do not
// change). Every key of one mailbox is derived from its dbname alone, so a
// slot-sharded deployment routes a mailbox to one cluster and keeps this
// layout unchanged (docs/scaling.md):
//
//	P/m/<dbname>      entry (registry.AppendEntryBinary without revision, or
//	                  registry.EncodeEntry's JSON: both read; its revision
//	                  is the key's ModRevision)
//	P/t/<dbname>      tombstone (revision = ModRevision)
//	P/x/<index key>   reverse-ACL index row (registry.IndexKeys), empty value;
//	                  the "listable" rows (registry.IndexListable) and a
//	                  user's rows on the user's own hierarchy
//	                  (registry.OwnRow) are not written (indexRows):
//	                  Visible reads the user's own entries instead, two
//	                  keys fewer per typical entry. Rows of those kinds that
//	                  a cluster written before still holds are never needed
//	                  and are removed with their entry's other rows.
//	P/s/<slot>        slot (revision = ModRevision)
//
// An entry and its index rows change in one transaction, compared on the
// entry key's revisions. Watch follows [P/m/, P/t/...] with etcd's own
// revisions, so a List at revision R followed by Watch(R) neither misses nor
// repeats a change.
const (
	dirEntry = "/m/"
	dirTomb  = "/t/"
	dirIndex = "/x/"
	dirSlot  = "/s/"
)

// Options tune the store.
type Options struct {
	// Prefix is the key prefix (the URL's path), default "/murder".
	Prefix string
	// MaxTxnOps must not exceed the cluster's --max-txn-ops (etcd default
	// 128); Import packs transactions up to it.
	MaxTxnOps int
	// ImportWorkers is how many Import transactions run at once (default 4).
	ImportWorkers int
	// ImportTxnBytes bounds the keys and values one Import transaction
	// writes (default 16 KiB; URL: ?txnbytes=N). Every transaction is one
	// raft log entry, and each member keeps its last entries in memory
	// (etcd 3.4: 5,000 of them; an embedded member: --etcd-catchup-entries):
	// a bulk import of 1,024-operation transactions (~100 KB each) held
	// ~0.3 GB more per member than one of 16 KiB transactions
	// (docs/scaling.md). A single entry larger than this still goes in a
	// transaction of its own.
	ImportTxnBytes int
	// DialTimeout bounds the first connection (default 5 s).
	DialTimeout time.Duration
	// JSONEntries stores entries as JSON (registry.EncodeEntry) instead of
	// the keyed compact form (registry.AppendEntryKeyed). Every form is
	// always read; JSON is for a cluster still shared with bridges built
	// before the binary form (URL: ?entries=json).
	JSONEntries bool
	// CompactEntries stores entries in the compact binary form of
	// 2026-11-22 (registry.AppendEntryBinary, name included) instead of
	// the keyed one: for a cluster still shared with bridges built before
	// the keyed form, which cannot read it (URL: ?entries=compact).
	CompactEntries bool
	// CacheSize bounds how many names' last read or written state the
	// store remembers as the first guess of the next write (default 4096;
	// negative: none). A wrong guess costs a round trip, never a wrong
	// write: every write is compared on the state it assumed.
	CacheSize int
}

// Store is the etcd registry backend.
type Store struct {
	cli    *clientv3.Client
	p      string
	o      Options
	cache  *stateCache
	closed chan struct{}
	once   sync.Once

	// progressWant is the highest revision a RequestProgress promised
	// its caller the watches would confirm.
	progressWant atomic.Int64
	askMu        sync.Mutex
	asked        chan struct{} // closed by RequestProgress (read.go)

	pageSize int64        // pages' page size; 0: pageSize (tests set it)
	counted  atomic.Int64 // keys etcd counted for pages' requests
	// readRetries counts read attempts sent again (retryRead)
	readRetries atomic.Int64
	// slowReads counts attempts that timed out on a healthy cluster
	slowReads atomic.Int64
	// readTimeout and readTimeoutMax replace readAttemptTimeout and
	// maxReadAttemptTimeout when set (tests)
	readTimeout, readTimeoutMax time.Duration
}

var _ registry.Store = (*Store)(nil)

func init() {
	registry.Register("etcd", func(ctx context.Context, u *url.URL, _ registry.OpenOptions) (registry.Store, error) {
		if u.Host == "" {
			return nil, &registry.Error{Op: "open", Err: fmt.Errorf("etcd URL %q names no endpoint (etcd://host:port,host:port/prefix): %w", u.String(), registry.ErrInvalid)}
		}
		var eps []string
		for _, h := range strings.Split(u.Host, ",") {
			if h == "" {
				return nil, &registry.Error{Op: "open", Err: fmt.Errorf("etcd URL %q has an empty endpoint: %w", u.String(), registry.ErrInvalid)}
			}
			eps = append(eps, "http://"+h)
		}
		o := Options{Prefix: strings.TrimRight(u.Path, "/")}
		q := u.Query()
		if v := q.Get("maxtxnops"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 8 {
				return nil, &registry.Error{Op: "open", Err: fmt.Errorf("etcd URL %q: maxtxnops %q: want a number ≥ 8: %w", u.String(), v, registry.ErrInvalid)}
			}
			o.MaxTxnOps = n
		}
		if v := q.Get("txnbytes"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1024 {
				return nil, &registry.Error{Op: "open", Err: fmt.Errorf("etcd URL %q: txnbytes %q: want a number of bytes ≥ 1024: %w", u.String(), v, registry.ErrInvalid)}
			}
			o.ImportTxnBytes = n
		}
		if v := q.Get("workers"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, &registry.Error{Op: "open", Err: fmt.Errorf("etcd URL %q: workers %q: want a number ≥ 1: %w", u.String(), v, registry.ErrInvalid)}
			}
			o.ImportWorkers = n
		}
		switch v := q.Get("entries"); v {
		case "", "keyed":
		case "compact", "binary":
			o.CompactEntries = true
		case "json":
			o.JSONEntries = true
		default:
			return nil, &registry.Error{Op: "open", Err: fmt.Errorf("etcd URL %q: entries %q: want keyed, compact or json: %w", u.String(), v, registry.ErrInvalid)}
		}
		return Open(ctx, eps, &o)
	})
}

// Open connects to the cluster at endpoints (http://host:port).
func Open(ctx context.Context, endpoints []string, o *Options) (*Store, error) {
	opts := defaults(o)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: opts.DialTimeout,
		Context:     context.Background(),
		Logger:      quietLogger(),
	})
	if err != nil {
		return nil, &registry.Error{Op: "open", Err: registry.Unavailable(fmt.Errorf("etcd %s: %w", strings.Join(endpoints, ","), err))}
	}
	return open(ctx, cli, opts, strings.Join(endpoints, ","))
}

// OpenClient makes a store on a client the caller made, such as an embedded
// member's in-process client (member.Member.Client: no gRPC over TCP
// between a bridge and its own member). Close closes cli.
func OpenClient(ctx context.Context, cli *clientv3.Client, o *Options) (*Store, error) {
	return open(ctx, cli, defaults(o), "in-process client")
}

func defaults(o *Options) Options {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Prefix == "" {
		opts.Prefix = "/murder"
	}
	if !strings.HasPrefix(opts.Prefix, "/") {
		opts.Prefix = "/" + opts.Prefix
	}
	if opts.MaxTxnOps == 0 {
		opts.MaxTxnOps = 128
	}
	if opts.ImportWorkers == 0 {
		opts.ImportWorkers = 4
	}
	if opts.ImportTxnBytes == 0 {
		opts.ImportTxnBytes = 16 << 10
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 4096
	}
	return opts
}

func open(ctx context.Context, cli *clientv3.Client, opts Options, where string) (*Store, error) {
	// Check that the cluster answers.
	cctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, opts.Prefix+"/", clientv3.WithCountOnly(), clientv3.WithPrefix()); err != nil {
		cli.Close()
		return nil, &registry.Error{Op: "open", Err: registry.Unavailable(fmt.Errorf("etcd %s: %w", where, err))}
	}
	return &Store{cli: cli, p: opts.Prefix, o: opts, cache: newStateCache(opts.CacheSize), closed: make(chan struct{}), asked: make(chan struct{})}, nil
}

// Client returns the underlying etcd client (for tests and tools).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Close closes the client.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.cli.Close()
	})
	return err
}

func (s *Store) ekey(db string) string { return s.p + dirEntry + db }

func (s *Store) tkey(db string) string { return s.p + dirTomb + db }

func (s *Store) xkey(k string) string { return s.p + dirIndex + k }

func (s *Store) skey(n string) string { return s.p + dirSlot + n }

// wrap maps etcd errors onto the registry's.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, rpctypes.ErrGRPCCompacted) {
		return fmt.Errorf("%w: %v", registry.ErrCompacted, err)
	}
	return registry.Unavailable(err)
}

func (s *Store) check(ctx context.Context, op, name string) error {
	if err := ctx.Err(); err != nil {
		return registry.E(op, name, err)
	}
	select {
	case <-s.closed:
		return registry.E(op, name, fmt.Errorf("%w: store closed", registry.ErrUnavailable))
	default:
	}
	return nil
}

const (
	modeCreate = iota
	modeUpdate
	modePut
)
