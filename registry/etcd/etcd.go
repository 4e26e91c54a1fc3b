package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	// DialTimeout bounds the first connection (default 5 s).
	DialTimeout time.Duration
	// JSONEntries stores entries as JSON (registry.EncodeEntry) instead of
	// the compact binary form (registry.AppendEntryBinary). Both forms are
	// always read; JSON is for a cluster still shared with bridges built
	// before the binary form (URL: ?entries=json).
	JSONEntries bool
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
		if v := q.Get("workers"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, &registry.Error{Op: "open", Err: fmt.Errorf("etcd URL %q: workers %q: want a number ≥ 1: %w", u.String(), v, registry.ErrInvalid)}
			}
			o.ImportWorkers = n
		}
		switch v := q.Get("entries"); v {
		case "", "binary":
		case "json":
			o.JSONEntries = true
		default:
			return nil, &registry.Error{Op: "open", Err: fmt.Errorf("etcd URL %q: entries %q: want binary or json: %w", u.String(), v, registry.ErrInvalid)}
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
func (s *Store) xkey(k string) string  { return s.p + dirIndex + k }
func (s *Store) skey(n string) string  { return s.p + dirSlot + n }

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

// read reads the entry and the tombstone of db in one (linearizable)
// transaction.
func (s *Store) read(ctx context.Context, db string) (state, error) {
	resp, err := s.txnReadRetry(ctx, clientv3.OpGet(s.ekey(db)), clientv3.OpGet(s.tkey(db)))
	if err != nil {
		return state{}, wrap(err)
	}
	return stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange()), nil
}

// Get implements registry.Store (a linearizable read).
func (s *Store) Get(ctx context.Context, name string) (registry.Entry, error) {
	return s.get(ctx, "get", name)
}

// GetStale implements registry.StaleReader: the entry as this store last
// wrote it (its state cache, no round trip), else a serializable read (the
// member the client talks to answers from its own state, without a quorum
// round). Either may lag writes the cluster already committed.
func (s *Store) GetStale(ctx context.Context, name string) (registry.Entry, error) {
	if err := registry.ValidateName(name); err == nil {
		db := registry.DBName(name)
		if c, ok := s.cache.get(db); ok && c.exists() {
			if e, err := c.entry(s.ekey(db)); err == nil && e.Name == name {
				return e, nil
			}
		}
	}
	return s.get(ctx, "get", name, clientv3.WithSerializable())
}

func (s *Store) get(ctx context.Context, op, name string, opts ...clientv3.OpOption) (registry.Entry, error) {
	if err := s.check(ctx, op, name); err != nil {
		return registry.Entry{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Entry{}, registry.E(op, name, err)
	}
	resp, err := s.getRetry(ctx, s.ekey(registry.DBName(name)), opts...)
	if err != nil {
		return registry.Entry{}, registry.E(op, name, wrap(err))
	}
	if len(resp.Kvs) == 0 {
		return registry.Entry{}, registry.E(op, name, registry.ErrNotFound)
	}
	e, err := registry.DecodeEntry(resp.Kvs[0].Value, "etcd key "+strconv.Quote(string(resp.Kvs[0].Key)))
	if err != nil {
		return registry.Entry{}, registry.E(op, name, err)
	}
	e.Revision = resp.Kvs[0].ModRevision
	return e, nil
}

// GetTombstone implements registry.Store.
func (s *Store) GetTombstone(ctx context.Context, name string) (registry.Tombstone, error) {
	if err := s.check(ctx, "get-tombstone", name); err != nil {
		return registry.Tombstone{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Tombstone{}, registry.E("get-tombstone", name, err)
	}
	resp, err := s.getRetry(ctx, s.tkey(registry.DBName(name)))
	if err != nil {
		return registry.Tombstone{}, registry.E("get-tombstone", name, wrap(err))
	}
	if len(resp.Kvs) == 0 {
		return registry.Tombstone{}, registry.E("get-tombstone", name, registry.ErrNotFound)
	}
	t, err := registry.DecodeTombstone(resp.Kvs[0].Value, "etcd key "+strconv.Quote(string(resp.Kvs[0].Key)))
	if err != nil {
		return registry.Tombstone{}, registry.E("get-tombstone", name, err)
	}
	t.Revision = resp.Kvs[0].ModRevision
	return t, nil
}

// encode returns the stored form of e: the compact binary form
// (registry.AppendEntryBinary, without the revision, which is the key's
// ModRevision), or JSON when Options.JSONEntries asks for it. Either form
// is read back.
func (s *Store) encode(e *registry.Entry) []byte {
	if s.o.JSONEntries {
		return registry.EncodeEntry(e, false)
	}
	return registry.AppendEntryBinary(make([]byte, 0, 192), e, false)
}

// sameStored reports whether the stored bytes old hold the content val
// (this store's form of an entry) holds: equal bytes, or the same entry in
// the other form.
func (s *Store) sameStored(old, val []byte) bool {
	if bytes.Equal(old, val) {
		return true
	}
	if len(old) == 0 || len(val) == 0 || (old[0] == '{') == (val[0] == '{') {
		return false // same form, different bytes
	}
	e, err := registry.DecodeEntry(old, "")
	if err != nil {
		return false
	}
	return bytes.Equal(s.encode(&e), val)
}

// putOps returns the operations that store e (stored form val) over old
// (nil when absent) and remove a tombstone when delTomb.
func (s *Store) putOps(e *registry.Entry, val []byte, old *registry.Entry, delTomb bool) []clientv3.Op {
	db := registry.DBName(e.Name)
	var oldKeys []string
	if old != nil {
		oldKeys = registry.StoredIndexKeys(old)
	}
	del, add := registry.DiffKeys(oldKeys, indexRows(e))
	ops := make([]clientv3.Op, 0, 2+len(del)+len(add))
	ops = append(ops, clientv3.OpPut(s.ekey(db), string(val)))
	for _, k := range del {
		ops = append(ops, clientv3.OpDelete(s.xkey(k)))
	}
	for _, k := range add {
		ops = append(ops, clientv3.OpPut(s.xkey(k), ""))
	}
	if delTomb {
		ops = append(ops, clientv3.OpDelete(s.tkey(db)))
	}
	return ops
}

// indexRows returns the index rows this store writes for e, sorted:
// registry.IndexKeys without the "listable" row and without the rows of a
// user on the user's own hierarchy (registry.OwnRow). Visible reads the own
// hierarchy's entries instead, so neither kind is needed; leaving them out
// takes a typical mailbox (owner rights plus a group grant) from four etcd
// keys to two, and every key costs each member ~180 bytes of memory in
// etcd's key index (docs/scaling.md, "Where a member's memory goes").
// Rows of both kinds that a cluster written before still holds are never
// needed and are removed with their entry's other rows
// (registry.StoredIndexKeys).
func indexRows(e *registry.Entry) []string {
	keys := registry.IndexKeys(e)
	out := keys[:0]
	for _, k := range keys {
		if !strings.HasPrefix(k, registry.IndexListable) && !registry.OwnRow(k) {
			out = append(out, k)
		}
	}
	return out
}

const maxRetries = 64

// attemptTimeout bounds one attempt of a write transaction: a proposal a
// follower forwarded to a leader that was just killed is lost and would
// wait for etcd's own request timeout (~7 s).
const attemptTimeout = 2 * time.Second

// resendWindow bounds how long commit sends a transaction again whose
// outcome is unknown.
const resendWindow = 15 * time.Second

// commit runs a write transaction. An attempt whose outcome is unknown — it
// took longer than attemptTimeout, or etcd answered "request timed out",
// "leader changed", a lost connection or another Unavailable — is sent
// again, for up to resendWindow: every attempt compares on the same state,
// so at most one applies, and resent tells the caller that a failed
// comparison may be its own earlier attempt (write and Delete then look
// for their own bytes). An error is returned only when etcd refused the
// transaction outright, the caller's context ended, or the window passed
// (then whether it applied is unknown, and the error says so).
func (s *Store) commit(ctx context.Context, cmps []clientv3.Cmp, ops, els []clientv3.Op) (*clientv3.TxnResponse, bool, error) {
	resent := false
	var until time.Time
	for n := 0; ; n++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		resp, err := s.cli.Txn(actx).If(cmps...).Then(ops...).Else(els...).Commit()
		timedOut := actx.Err() != nil
		cancel()
		if err == nil || ctx.Err() != nil {
			return resp, resent, err
		}
		if !timedOut && !inDoubt(err) {
			return resp, resent, err
		}
		if until.IsZero() {
			until = time.Now().Add(resendWindow)
		} else if time.Now().After(until) {
			return resp, resent, fmt.Errorf("%w (sent %d times over %v; whether it was applied is unknown)", err, n+1, resendWindow)
		}
		resent = true
		if n > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Duration(n)*20*time.Millisecond, 200*time.Millisecond)):
			}
		}
	}
}

// inDoubt reports whether a transaction that got err may have been
// applied all the same: etcd's Unavailable and DeadlineExceeded answers
// ("request timed out", "leader changed", "no leader", a lost connection).
// Refusals (too many operations, a request too large, permissions) are
// not: etcd checked them before proposing.
func inDoubt(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded
	}
	return false
}

// decide applies the rules of mode to the state c: nil, or the caller's
// error.
func decide(mode int, e *registry.Entry, c *state, tk string) error {
	switch mode {
	case modeCreate:
		if c.exists() {
			return registry.ErrExists
		}
	case modeUpdate:
		if !c.exists() {
			return registry.ErrNotFound
		}
		if c.emod != e.Revision {
			return fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, e.Revision, c.emod)
		}
	}
	if !c.exists() && c.hasTomb() {
		t, err := c.tomb(tk)
		if err != nil {
			return err
		}
		if registry.TombstoneBlocks(&t, e) {
			return fmt.Errorf("%w: state read at revision %d, deleted at %d", registry.ErrTombstoned, e.Revision, t.Revision)
		}
	}
	return nil
}

// write is Create, Update and Put: one transaction compared on the state
// the write starts from (a cached read of this name, the caller's revision,
// or "absent"), whose Else branch returns the current state when that was
// wrong. A write whose start was right (the MUPDATE case: Get, then Update
// with the revision read; or a Create of a new name) is one round trip.
func (s *Store) write(ctx context.Context, op string, e registry.Entry, mode int) (registry.Entry, error) {
	if err := s.check(ctx, op, e.Name); err != nil {
		return registry.Entry{}, err
	}
	if err := registry.Prepare(&e); err != nil {
		return registry.Entry{}, registry.E(op, e.Name, err)
	}
	db := registry.DBName(e.Name)
	ek, tk := s.ekey(db), s.tkey(db)
	c, _ := s.cache.get(db)
	if mode == modeUpdate && (!c.exists() || c.emod != e.Revision) {
		// The caller read a revision this client has not seen: the old
		// entry (for its index rows) must be read.
		var err error
		if c, err = s.read(ctx, db); err != nil {
			return registry.Entry{}, registry.E(op, e.Name, err)
		}
	}
	val := s.encode(&e)
	for range maxRetries {
		if err := decide(mode, &e, &c, tk); err != nil {
			if c.known {
				return registry.Entry{}, registry.E(op, e.Name, err)
			}
			// Decide only on what the cluster says, never on a guess.
			if c, err = s.read(ctx, db); err != nil {
				return registry.Entry{}, registry.E(op, e.Name, err)
			}
			continue
		}
		var oldp *registry.Entry
		if c.exists() {
			old, err := c.entry(ek)
			if err != nil {
				return registry.Entry{}, registry.E(op, e.Name, err)
			}
			oldp = &old
		}
		ops := s.putOps(&e, val, oldp, c.hasTomb())
		if len(ops) > s.o.MaxTxnOps {
			return registry.Entry{}, registry.E(op, e.Name, fmt.Errorf("entry needs %d operations in one transaction, more than the cluster's --max-txn-ops %d (raise it and the URL's maxtxnops): %w", len(ops), s.o.MaxTxnOps, registry.ErrInvalid))
		}
		resp, resent, err := s.commit(ctx, c.cmps(ek, tk), ops, []clientv3.Op{clientv3.OpGet(ek), clientv3.OpGet(tk)})
		if err != nil {
			return registry.Entry{}, registry.E(op, e.Name, wrap(err))
		}
		if !resp.Succeeded && resent {
			// An earlier attempt may have applied: it did when the name
			// now holds exactly this write's bytes at a newer revision.
			now := stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange())
			if now.emod > c.emod && bytes.Equal(now.eval, val) {
				e.Revision = now.emod
				s.cache.put(db, state{emod: e.Revision, eval: val})
				return e, nil
			}
			return registry.Entry{}, registry.E(op, e.Name, registry.Unavailable(errors.New("a write timed out and its resend found the name changed: the first may have been applied")))
		}
		if resp.Succeeded {
			e.Revision = resp.Header.Revision
			s.cache.put(db, state{emod: e.Revision, eval: val})
			return e, nil
		}
		// The name was not as assumed (a guess, or another writer got in
		// between): the Else branch read it; decide again.
		c = stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange())
	}
	return registry.Entry{}, registry.E(op, e.Name, fmt.Errorf("%w: still changing after %d attempts", registry.ErrConflict, maxRetries))
}

const (
	modeCreate = iota
	modeUpdate
	modePut
)

// Create implements registry.Store.
func (s *Store) Create(ctx context.Context, e registry.Entry) (registry.Entry, error) {
	return s.write(ctx, "create", e, modeCreate)
}

// Update implements registry.Store.
func (s *Store) Update(ctx context.Context, e registry.Entry) (registry.Entry, error) {
	return s.write(ctx, "update", e, modeUpdate)
}

// Put implements registry.Store.
func (s *Store) Put(ctx context.Context, e registry.Entry) (registry.Entry, error) {
	return s.write(ctx, "put", e, modePut)
}

// Delete implements registry.Store, like write: one transaction compared on
// the cached state when there is one that fits rev.
func (s *Store) Delete(ctx context.Context, name string, rev int64) (registry.Tombstone, error) {
	if err := s.check(ctx, "delete", name); err != nil {
		return registry.Tombstone{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Tombstone{}, registry.E("delete", name, err)
	}
	db := registry.DBName(name)
	ek, tk := s.ekey(db), s.tkey(db)
	c, _ := s.cache.get(db)
	for range maxRetries {
		var err error
		switch {
		case !c.exists():
			err = registry.ErrNotFound
		case rev != 0 && rev != c.emod:
			err = fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, rev, c.emod)
		}
		if err != nil {
			if c.known {
				return registry.Tombstone{}, registry.E("delete", name, err)
			}
			if c, err = s.read(ctx, db); err != nil {
				return registry.Tombstone{}, registry.E("delete", name, err)
			}
			continue
		}
		old, err := c.entry(ek)
		if err != nil {
			return registry.Tombstone{}, registry.E("delete", name, err)
		}
		t := registry.Tombstone{Name: name, UniqueID: old.UniqueID, UIDValidity: old.UIDValidity, Time: time.Now().UTC()}
		tval := registry.EncodeTombstone(&t, false)
		keys := registry.StoredIndexKeys(&old)
		ops := []clientv3.Op{clientv3.OpDelete(ek), clientv3.OpPut(tk, string(tval))}
		for _, k := range keys {
			ops = append(ops, clientv3.OpDelete(s.xkey(k)))
		}
		if len(ops) > s.o.MaxTxnOps {
			return registry.Tombstone{}, registry.E("delete", name, fmt.Errorf("entry needs %d operations in one transaction, more than the cluster's --max-txn-ops %d (raise it and the URL's maxtxnops): %w", len(ops), s.o.MaxTxnOps, registry.ErrInvalid))
		}
		resp, resent, err := s.commit(ctx, []clientv3.Cmp{
			clientv3.Compare(clientv3.ModRevision(ek), "=", c.emod),
			clientv3.Compare(clientv3.Value(ek), "=", string(c.eval)),
		}, ops, []clientv3.Op{clientv3.OpGet(ek), clientv3.OpGet(tk)})
		if err != nil {
			return registry.Tombstone{}, registry.E("delete", name, wrap(err))
		}
		if !resp.Succeeded && resent {
			// The tombstone holds this delete's time in nanoseconds: if it
			// is there, the earlier attempt applied.
			now := stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange())
			if !now.exists() && bytes.Equal(now.tval, tval) {
				t.Revision = now.tmod
				s.cache.put(db, state{tmod: t.Revision, tval: tval})
				return t, nil
			}
			return registry.Tombstone{}, registry.E("delete", name, registry.Unavailable(errors.New("a delete timed out and its resend found the name changed: the first may have been applied")))
		}
		if resp.Succeeded {
			t.Revision = resp.Header.Revision
			s.cache.put(db, state{tmod: t.Revision, tval: tval})
			return t, nil
		}
		c = stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange())
	}
	return registry.Tombstone{}, registry.E("delete", name, fmt.Errorf("%w: still changing after %d attempts", registry.ErrConflict, maxRetries))
}

// importItem is one name of an Import.
type importItem struct {
	e    registry.Entry
	val  []byte
	keys int // index rows of e
}

// Import implements registry.Store: entries, in dbname order, are packed
// into chunks of at most MaxTxnOps operations, run by ImportWorkers at
// once. A chunk is first written as one transaction compared on "no entry
// and no tombstone in the chunk's key range" (importFresh): an import into
// an empty registry, or a new part of one, is one round trip per chunk with
// two compares. Otherwise each name is compared on its own state (read back
// in the Else branch) and written over it. One transaction's entries share
// its revision.
func (s *Store) Import(ctx context.Context, entries []registry.Entry) (registry.ImportStats, error) {
	if err := s.check(ctx, "import", ""); err != nil {
		return registry.ImportStats{}, err
	}
	// Last occurrence of a name wins; entries are handled in dbname order.
	byDB := make(map[string]*importItem, len(entries))
	for _, e := range entries {
		if err := registry.Prepare(&e); err != nil {
			return registry.ImportStats{}, registry.E("import", e.Name, err)
		}
		byDB[registry.DBName(e.Name)] = &importItem{e: e}
	}
	dbs := make([]string, 0, len(byDB))
	for db, it := range byDB {
		dbs = append(dbs, db)
		it.val = s.encode(&it.e)
		it.keys = len(indexRows(&it.e))
	}
	sort.Strings(dbs)
	// Chunks that fit one transaction when every name is new (importFresh):
	// the entry and its index rows. When some are not, importChunk needs
	// more transactions for the chunk.
	var chunks [][]string
	for i := 0; i < len(dbs); {
		j, nops := i, 0
		for j < len(dbs) && j-i < s.o.MaxTxnOps && (j == i || nops+byDB[dbs[j]].keys+1 <= s.o.MaxTxnOps) {
			nops += byDB[dbs[j]].keys + 1
			j++
		}
		chunks = append(chunks, dbs[i:j])
		i = j
	}
	var (
		mu    sync.Mutex
		st    registry.ImportStats
		first error
		wg    sync.WaitGroup
		next  = make(chan []string)
	)
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(s.o.ImportWorkers, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range next {
				cs, err := s.importChunk(ictx, chunk, byDB)
				mu.Lock()
				st.Created += cs.Created
				st.Updated += cs.Updated
				st.Unchanged += cs.Unchanged
				if err != nil && first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, c := range chunks {
		select {
		case next <- c:
		case <-ictx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return st, registry.E("import", "", first)
	}
	if err := ctx.Err(); err != nil {
		return st, registry.E("import", "", err)
	}
	return st, nil
}

// importChunk writes a chunk's names in as few transactions as the op
// limit allows, each compared on the state assumed for its names (absent
// until read back; an import fills a new registry); a
// transaction that fails returns their current state (Else), and they are
// decided again: unchanged ones are left alone, changed ones rewritten over
// what was read.
func (s *Store) importChunk(ctx context.Context, dbs []string, byDB map[string]*importItem) (registry.ImportStats, error) {
	var st registry.ImportStats
	states := make(map[string]state) // names read back; the others are assumed absent
	if ok, err := s.importFresh(ctx, dbs, byDB, states); err != nil {
		return st, err
	} else if ok {
		st.Created += len(dbs)
		return st, nil
	}
	pending := dbs
	transient := 0
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxRetries {
			return st, fmt.Errorf("%w: names still changing after %d attempts", registry.ErrConflict, maxRetries)
		}
		type item struct {
			db    string
			ops   []clientv3.Op
			ncmps int
			upd   bool
		}
		var items []item
		var retry []string
		for _, db := range pending {
			it := byDB[db]
			c := states[db]
			var oldp *registry.Entry
			if c.exists() {
				if s.sameStored(c.eval, it.val) {
					st.Unchanged++
					continue
				}
				old, err := c.entry(s.ekey(db))
				if err != nil {
					return st, err
				}
				oldp = &old
			}
			// Import overrides tombstones: the tombstone key is removed
			// whatever it holds, so only the entry key is compared.
			ops := s.putOps(&it.e, it.val, oldp, true)
			if len(ops) > s.o.MaxTxnOps {
				return st, fmt.Errorf("entry %q needs %d operations in one transaction, more than --max-txn-ops %d: %w", it.e.Name, len(ops), s.o.MaxTxnOps, registry.ErrInvalid)
			}
			ncmps := 1
			if c.exists() {
				ncmps = 2
			}
			items = append(items, item{db: db, ops: ops, ncmps: ncmps, upd: oldp != nil})
		}
		// Pack items into transactions (operations, compares and Else
		// reads each within the limit).
		for len(items) > 0 {
			n, nops, ncmps := 0, 0, 0
			for n < len(items) && n < s.o.MaxTxnOps && (n == 0 ||
				(nops+len(items[n].ops) <= s.o.MaxTxnOps && ncmps+items[n].ncmps <= s.o.MaxTxnOps)) {
				nops += len(items[n].ops)
				ncmps += items[n].ncmps
				n++
			}
			cmps := make([]clientv3.Cmp, 0, ncmps)
			ops := make([]clientv3.Op, 0, nops)
			reads := make([]clientv3.Op, 0, n)
			for _, it := range items[:n] {
				c := states[it.db]
				ek := s.ekey(it.db)
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(ek), "=", c.emod))
				if c.exists() {
					cmps = append(cmps, clientv3.Compare(clientv3.Value(ek), "=", string(c.eval)))
				}
				ops = append(ops, it.ops...)
				reads = append(reads, clientv3.OpGet(ek))
			}
			resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(reads...).Commit()
			if err != nil {
				// A timeout may or may not have applied the transaction: it
				// is compared on what was assumed, so trying again is safe
				// (an applied one then fails its compare and reads back as
				// unchanged).
				if transient++; transient > maxTransient || ctx.Err() != nil {
					return st, wrap(err)
				}
				backoff(ctx, transient)
				for _, it := range items {
					retry = append(retry, it.db)
				}
				break
			}
			if resp.Succeeded {
				for _, it := range items[:n] {
					if it.upd {
						st.Updated++
					} else {
						st.Created++
					}
				}
			} else {
				for i, it := range items[:n] {
					states[it.db] = stateOf(resp.Responses[i].GetResponseRange(), nil)
					retry = append(retry, it.db)
				}
			}
			items = items[n:]
		}
		pending = retry
	}
	return st, nil
}

// importFresh is importChunk's first attempt, for the common case of names
// that are new and were never deleted: one transaction whose two compares
// cover the whole chunk's range of entry and tombstone keys ("no key in the
// range") instead of one compare and one tombstone removal per name. It
// reports whether that applied. When it did not, it fills states with the
// chunk's names that exist (read in its Else branch) for the per-name
// transactions that follow; an error of the cluster is left to those too
// (they compare per name, so a transaction that did apply reads back as
// unchanged).
func (s *Store) importFresh(ctx context.Context, dbs []string, byDB map[string]*importItem, states map[string]state) (bool, error) {
	first, last := dbs[0], dbs[len(dbs)-1]
	ekFirst, ekEnd := s.ekey(first), s.ekey(last)+"\x00"
	tkFirst, tkEnd := s.tkey(first), s.tkey(last)+"\x00"
	nops := 0
	for _, db := range dbs {
		nops += 1 + byDB[db].keys
	}
	if nops > s.o.MaxTxnOps {
		return false, nil
	}
	ops := make([]clientv3.Op, 0, nops)
	for _, db := range dbs {
		it := byDB[db]
		ops = append(ops, s.putOps(&it.e, it.val, nil, false)...)
	}
	resp, err := s.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(ekFirst), "=", 0).WithRange(ekEnd),
		clientv3.Compare(clientv3.ModRevision(tkFirst), "=", 0).WithRange(tkEnd),
	).Then(ops...).Else(clientv3.OpGet(ekFirst, clientv3.WithRange(ekEnd))).Commit()
	if err != nil {
		if ctx.Err() != nil {
			return false, wrap(err)
		}
		return false, nil
	}
	if resp.Succeeded {
		return true, nil
	}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		db := strings.TrimPrefix(string(kv.Key), s.p+dirEntry)
		if _, ok := byDB[db]; ok {
			states[db] = state{known: true, emod: kv.ModRevision, eval: kv.Value}
		}
	}
	return false, nil
}

// maxTransient bounds the retries of an Import chunk after errors such as
// "etcdserver: request timed out" or a leader change.
const maxTransient = 8

func backoff(ctx context.Context, n int) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(n) * 250 * time.Millisecond):
	}
}
