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
//	P/m/<dbname>      entry (registry stored JSON; its revision is the key's ModRevision)
//	P/t/<dbname>      tombstone (revision = ModRevision)
//	P/x/<index key>   reverse-ACL index row (registry.IndexKeys), empty value
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
}

// Store is the etcd registry backend.
type Store struct {
	cli    *clientv3.Client
	p      string
	o      Options
	closed chan struct{}
	once   sync.Once
}

var _ registry.Store = (*Store)(nil)

func init() {
	registry.Register("etcd", func(ctx context.Context, u *url.URL) (registry.Store, error) {
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
		return Open(ctx, eps, &o)
	})
}

// Open connects to the cluster at endpoints (http://host:port).
func Open(ctx context.Context, endpoints []string, o *Options) (*Store, error) {
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
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: opts.DialTimeout,
		Context:     context.Background(),
		Logger:      quietLogger(),
	})
	if err != nil {
		return nil, &registry.Error{Op: "open", Err: registry.Unavailable(fmt.Errorf("etcd %s: %w", strings.Join(endpoints, ","), err))}
	}
	// Check that the cluster answers.
	cctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if _, err := cli.Get(cctx, opts.Prefix+"/", clientv3.WithCountOnly(), clientv3.WithPrefix()); err != nil {
		cli.Close()
		return nil, &registry.Error{Op: "open", Err: registry.Unavailable(fmt.Errorf("etcd %s: %w", strings.Join(endpoints, ","), err))}
	}
	return &Store{cli: cli, p: opts.Prefix, o: opts, closed: make(chan struct{})}, nil
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

// current reads the entry and the tombstone of db in one transaction.
type current struct {
	entry    registry.Entry
	exists   bool
	emod     int64
	tomb     registry.Tombstone
	hasTomb  bool
	tmod     int64
	revision int64
}

func (s *Store) read(ctx context.Context, db string) (current, error) {
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.ekey(db)), clientv3.OpGet(s.tkey(db))).Commit()
	if err != nil {
		return current{}, wrap(err)
	}
	var c current
	c.revision = resp.Header.Revision
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		e, err := registry.DecodeEntry(kvs[0].Value, "etcd key "+strconv.Quote(string(kvs[0].Key)))
		if err != nil {
			return current{}, err
		}
		e.Revision = kvs[0].ModRevision
		c.entry, c.exists, c.emod = e, true, kvs[0].ModRevision
	}
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
		t, err := registry.DecodeTombstone(kvs[0].Value, "etcd key "+strconv.Quote(string(kvs[0].Key)))
		if err != nil {
			return current{}, err
		}
		t.Revision = kvs[0].ModRevision
		c.tomb, c.hasTomb, c.tmod = t, true, kvs[0].ModRevision
	}
	return c, nil
}

// Get implements registry.Store.
func (s *Store) Get(ctx context.Context, name string) (registry.Entry, error) {
	if err := s.check(ctx, "get", name); err != nil {
		return registry.Entry{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Entry{}, registry.E("get", name, err)
	}
	resp, err := s.cli.Get(ctx, s.ekey(registry.DBName(name)))
	if err != nil {
		return registry.Entry{}, registry.E("get", name, wrap(err))
	}
	if len(resp.Kvs) == 0 {
		return registry.Entry{}, registry.E("get", name, registry.ErrNotFound)
	}
	e, err := registry.DecodeEntry(resp.Kvs[0].Value, "etcd key "+strconv.Quote(string(resp.Kvs[0].Key)))
	if err != nil {
		return registry.Entry{}, registry.E("get", name, err)
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
	resp, err := s.cli.Get(ctx, s.tkey(registry.DBName(name)))
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

// putOps returns the operations that store e over old (nil when absent) and
// remove a tombstone.
func (s *Store) putOps(e *registry.Entry, old *registry.Entry, delTomb bool) []clientv3.Op {
	db := registry.DBName(e.Name)
	var oldKeys []string
	if old != nil {
		oldKeys = registry.StoredIndexKeys(old)
	}
	del, add := registry.DiffKeys(oldKeys, registry.IndexKeys(e))
	ops := make([]clientv3.Op, 0, 2+len(del)+len(add))
	ops = append(ops, clientv3.OpPut(s.ekey(db), string(registry.EncodeEntry(e, false))))
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

const maxRetries = 64

func (s *Store) write(ctx context.Context, op string, e registry.Entry, mode int) (registry.Entry, error) {
	if err := s.check(ctx, op, e.Name); err != nil {
		return registry.Entry{}, err
	}
	if err := registry.Prepare(&e); err != nil {
		return registry.Entry{}, registry.E(op, e.Name, err)
	}
	db := registry.DBName(e.Name)
	for range maxRetries {
		c, err := s.read(ctx, db)
		if err != nil {
			return registry.Entry{}, registry.E(op, e.Name, err)
		}
		switch mode {
		case modeCreate:
			if c.exists {
				return registry.Entry{}, registry.E(op, e.Name, registry.ErrExists)
			}
		case modeUpdate:
			if !c.exists {
				return registry.Entry{}, registry.E(op, e.Name, registry.ErrNotFound)
			}
			if c.emod != e.Revision {
				return registry.Entry{}, registry.E(op, e.Name, fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, e.Revision, c.emod))
			}
		}
		if !c.exists && c.hasTomb && registry.TombstoneBlocks(&c.tomb, &e) {
			return registry.Entry{}, registry.E(op, e.Name, fmt.Errorf("%w: state read at revision %d, deleted at %d", registry.ErrTombstoned, e.Revision, c.tomb.Revision))
		}
		var oldp *registry.Entry
		if c.exists {
			oldp = &c.entry
		}
		ops := s.putOps(&e, oldp, c.hasTomb)
		if len(ops) > s.o.MaxTxnOps {
			return registry.Entry{}, registry.E(op, e.Name, fmt.Errorf("entry needs %d operations in one transaction, more than the cluster's --max-txn-ops %d (raise it and the URL's maxtxnops): %w", len(ops), s.o.MaxTxnOps, registry.ErrInvalid))
		}
		resp, err := s.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(s.ekey(db)), "=", c.emod),
			clientv3.Compare(clientv3.ModRevision(s.tkey(db)), "=", c.tmod),
		).Then(ops...).Commit()
		if err != nil {
			return registry.Entry{}, registry.E(op, e.Name, wrap(err))
		}
		if resp.Succeeded {
			e.Revision = resp.Header.Revision
			return e, nil
		}
		// Someone else changed the name between our read and write: read
		// again and decide (Create then sees ErrExists; Update a conflict).
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

// Delete implements registry.Store.
func (s *Store) Delete(ctx context.Context, name string, rev int64) (registry.Tombstone, error) {
	if err := s.check(ctx, "delete", name); err != nil {
		return registry.Tombstone{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Tombstone{}, registry.E("delete", name, err)
	}
	db := registry.DBName(name)
	for range maxRetries {
		c, err := s.read(ctx, db)
		if err != nil {
			return registry.Tombstone{}, registry.E("delete", name, err)
		}
		if !c.exists {
			return registry.Tombstone{}, registry.E("delete", name, registry.ErrNotFound)
		}
		if rev != 0 && rev != c.emod {
			return registry.Tombstone{}, registry.E("delete", name, fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, rev, c.emod))
		}
		t := registry.Tombstone{Name: name, UniqueID: c.entry.UniqueID, UIDValidity: c.entry.UIDValidity, Time: time.Now().UTC()}
		keys := registry.StoredIndexKeys(&c.entry)
		ops := []clientv3.Op{clientv3.OpDelete(s.ekey(db)), clientv3.OpPut(s.tkey(db), string(registry.EncodeTombstone(&t, false)))}
		for _, k := range keys {
			ops = append(ops, clientv3.OpDelete(s.xkey(k)))
		}
		if len(ops) > s.o.MaxTxnOps {
			return registry.Tombstone{}, registry.E("delete", name, fmt.Errorf("entry needs %d operations in one transaction, more than the cluster's --max-txn-ops %d (raise it and the URL's maxtxnops): %w", len(ops), s.o.MaxTxnOps, registry.ErrInvalid))
		}
		resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(s.ekey(db)), "=", c.emod)).Then(ops...).Commit()
		if err != nil {
			return registry.Tombstone{}, registry.E("delete", name, wrap(err))
		}
		if resp.Succeeded {
			t.Revision = resp.Header.Revision
			return t, nil
		}
	}
	return registry.Tombstone{}, registry.E("delete", name, fmt.Errorf("%w: still changing after %d attempts", registry.ErrConflict, maxRetries))
}

// Import implements registry.Store: entries are packed into transactions of
// at most MaxTxnOps operations, each compared on the revisions it read, run
// by ImportWorkers at once. One transaction's entries share its revision.
func (s *Store) Import(ctx context.Context, entries []registry.Entry) (registry.ImportStats, error) {
	if err := s.check(ctx, "import", ""); err != nil {
		return registry.ImportStats{}, err
	}
	// Last occurrence of a name wins; entries are handled in dbname order.
	byDB := map[string]registry.Entry{}
	for _, e := range entries {
		if err := registry.Prepare(&e); err != nil {
			return registry.ImportStats{}, registry.E("import", e.Name, err)
		}
		byDB[registry.DBName(e.Name)] = e
	}
	dbs := make([]string, 0, len(byDB))
	for db := range byDB {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	// Reads are Get operations too: half the limit for each name's two.
	readChunk := max(1, s.o.MaxTxnOps/2)
	var chunks [][]string
	for i := 0; i < len(dbs); i += readChunk {
		chunks = append(chunks, dbs[i:min(i+readChunk, len(dbs))])
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
	for range s.o.ImportWorkers {
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

// importChunk reads the current state of a chunk's names in one
// transaction, then writes the changed ones in as few transactions as the
// op limit allows, retrying a transaction whose names changed meanwhile.
func (s *Store) importChunk(ctx context.Context, dbs []string, byDB map[string]registry.Entry) (registry.ImportStats, error) {
	var st registry.ImportStats
	pending := dbs
	transient := 0
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxRetries {
			return st, fmt.Errorf("%w: names still changing after %d attempts", registry.ErrConflict, maxRetries)
		}
		ops := make([]clientv3.Op, 0, 2*len(pending))
		for _, db := range pending {
			ops = append(ops, clientv3.OpGet(s.ekey(db)), clientv3.OpGet(s.tkey(db)))
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			if transient++; transient > maxTransient || ctx.Err() != nil {
				return st, wrap(err)
			}
			backoff(ctx, transient)
			continue
		}
		type item struct {
			db   string
			cmps []clientv3.Cmp
			ops  []clientv3.Op
			upd  bool
		}
		var items []item
		var retry []string
		for i, db := range pending {
			e := byDB[db]
			var oldp *registry.Entry
			var emod int64
			if kvs := resp.Responses[2*i].GetResponseRange().Kvs; len(kvs) == 1 {
				old, err := registry.DecodeEntry(kvs[0].Value, "etcd key "+strconv.Quote(string(kvs[0].Key)))
				if err != nil {
					return st, err
				}
				emod = kvs[0].ModRevision
				if bytes.Equal(kvs[0].Value, registry.EncodeEntry(&e, false)) {
					st.Unchanged++
					continue
				}
				oldp = &old
			}
			hasTomb := len(resp.Responses[2*i+1].GetResponseRange().Kvs) == 1
			it := item{db: db, cmps: []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.ekey(db)), "=", emod)}, ops: s.putOps(&e, oldp, hasTomb), upd: oldp != nil}
			if len(it.ops) > s.o.MaxTxnOps {
				return st, fmt.Errorf("entry %q needs %d operations in one transaction, more than --max-txn-ops %d: %w", e.Name, len(it.ops), s.o.MaxTxnOps, registry.ErrInvalid)
			}
			items = append(items, it)
		}
		// Pack items into transactions.
		for len(items) > 0 {
			n, nops := 0, 0
			for n < len(items) && nops+len(items[n].ops) <= s.o.MaxTxnOps {
				nops += len(items[n].ops)
				n++
			}
			var cmps []clientv3.Cmp
			var ops []clientv3.Op
			for _, it := range items[:n] {
				cmps = append(cmps, it.cmps...)
				ops = append(ops, it.ops...)
			}
			resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
			if err != nil {
				// A timeout may or may not have applied the transaction: it
				// is compared on what was read, so reading again and redoing
				// it is safe (an applied one reads back as unchanged).
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
				for _, it := range items[:n] {
					retry = append(retry, it.db)
				}
			}
			items = items[n:]
		}
		pending = retry
	}
	return st, nil
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
