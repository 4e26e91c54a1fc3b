package leveldb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/registry"
)

// Key layout (part of the on-disk format; do not change):
//
//	"v"                     format version: "2" (entries in either form);
//	                        "1" (JSON entries only) is read and upgraded
//	                        to "2" on open
//	"r"                     current revision, 8 bytes big-endian
//	"g"                     oldest revision still in the change log (8 bytes)
//	"e" dbname              entry (registry.AppendEntryBinary with its revision;
//	                        JSON in stores written before version "2")
//	"t" dbname              tombstone
//	"x" index key           reverse-ACL index row (registry.IndexKeys), empty value
//	"c" rev (8 bytes BE)    change record: 'p' entry (as "e") | 'd' tombstone JSON
//	"s" slot name           slot
//
// Every write puts the entry, its index rows, the change record and the new
// revision in one leveldb batch: after a crash either all are there or none.
const (
	pfxEntry  = "e"
	pfxTomb   = "t"
	pfxIndex  = "x"
	pfxChange = "c"
	pfxSlot   = "s"
	keyRev    = "r"
	keyFloor  = "g"
	keyVer    = "v"
	version   = "2"
	version1  = "1"

	chPut = 'p'
	chDel = 'd'
)

// Options tune the store; nil means defaults.
type Options struct {
	// NoSync skips the fsync after each write (benchmarks only: an
	// acknowledged write may then be lost in a power failure, though never
	// half-written).
	NoSync bool
	// MustExist refuses a directory that holds no leveldb database (no
	// CURRENT file) with an error wrapping registry.ErrNotFound, creating
	// nothing: neither the directory nor leveldb's LOCK and LOG files.
	MustExist bool
}

// Store is the goleveldb registry backend. One process owns the directory
// (leveldb's LOCK file).
type Store struct {
	path string
	db   *goleveldb.DB
	wo   *opt.WriteOptions

	mu     sync.Mutex    // serialises writes (read-modify-write + revision)
	rev    int64         // last revision on disk (what readers and Watch see)
	notify chan struct{} // closed and replaced after every write
	asked  uint64        // progress requests so far (RequestProgress)

	// Group commit: a writer checks and assigns its revision under mu
	// against the disk state plus pending (the keys written by groups not
	// yet on disk), appends its batch to open and waits; one writer at a
	// time (the leader) writes a whole group with one synced leveldb write.
	// Revisions are assigned in order and groups written in order, so the
	// change log stays gap-free; a failed group fails the group built on it
	// too and assigned revisions restart after the last written one.
	cond    *sync.Cond
	next    int64 // last assigned revision (>= rev)
	pending map[string]pendingVal
	open    *group
	writing bool
	gen     uint64
	peakN   int    // largest recent group (writers), for the leader's linger
	groups  int64  // groups written (tests)
	doneGen uint64 // groups up to this gen are written or failed

	// prevs remembers, for recent revisions, the entry each change
	// replaced or deleted (the change log keeps only the new state), so
	// that Watch can fill Event.Prev for every write of this process.
	prevMu sync.Mutex
	prevs  [prevRingSize]prevSlot

	closeOnce sync.Once
	closeMu   sync.Mutex // orders closing s.closed against watchers.Add
	closed    chan struct{}
	watchers  sync.WaitGroup
}

var _ registry.Store = (*Store)(nil)

// prevRingSize bounds how many recent revisions keep their former entry.
const prevRingSize = 8192

type prevSlot struct {
	rev int64
	e   *registry.Entry // nil: the change created the entry
}

// notePrev records, under s.mu as the change is built, the entry revision
// rev replaces (nil for a create). A revision assigned again after a failed
// write is recorded again.
func (s *Store) notePrev(rev int64, old *registry.Entry) {
	var c *registry.Entry
	if old != nil {
		e := *old
		c = &e
	}
	s.prevMu.Lock()
	s.prevs[rev%prevRingSize] = prevSlot{rev: rev, e: c}
	s.prevMu.Unlock()
}

// prevOf returns the former entry of revision rev when it is still known.
func (s *Store) prevOf(rev int64) *registry.Entry {
	s.prevMu.Lock()
	defer s.prevMu.Unlock()
	if sl := s.prevs[rev%prevRingSize]; sl.rev == rev {
		return sl.e
	}
	return nil
}

func init() {
	registry.Register("leveldb", func(ctx context.Context, u *url.URL, ro registry.OpenOptions) (registry.Store, error) {
		path, o, err := fromURL(u)
		if err != nil {
			return nil, err
		}
		o.MustExist = ro.MustExist
		return Open(ctx, path, o)
	})
}

func fromURL(u *url.URL) (string, *Options, error) {
	if u.Host != "" {
		return "", nil, &registry.Error{Op: "open", Err: fmt.Errorf("leveldb URL %q must be leveldb:///absolute/path (no host): %w", u.String(), registry.ErrInvalid)}
	}
	if u.Path == "" {
		return "", nil, &registry.Error{Op: "open", Err: fmt.Errorf("leveldb URL %q has no path: %w", u.String(), registry.ErrInvalid)}
	}
	var o Options
	if u.Query().Get("nosync") == "1" {
		o.NoSync = true
	}
	return u.Path, &o, nil
}

// ParseURL returns the directory and options of a leveldb:///path URL, as
// registry.Open reads them (for Build).
func ParseURL(raw string) (string, *Options, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "leveldb" {
		return "", nil, &registry.Error{Op: "open", Err: fmt.Errorf("%q is not a leveldb:///path URL: %w", raw, registry.ErrInvalid)}
	}
	return fromURL(u)
}

// dbOptions are the goleveldb options of every registry (Open and Build).
func dbOptions(o *Options) *opt.Options {
	return &opt.Options{
		WriteBuffer:            32 << 20,
		CompactionTableSize:    8 << 20,
		BlockCacheCapacity:     32 << 20,
		OpenFilesCacheCapacity: 500,
		// Imports look up mostly absent names (entry and tombstone): a bloom
		// filter answers those without reading table blocks.
		Filter:                 filter.NewBloomFilter(bloomBits),
		CompactionL0Trigger:    8,
		WriteL0SlowdownTrigger: 24,
		WriteL0PauseTrigger:    36,
		NoSync:                 o.NoSync,
	}
}

const bloomBits = 10

// ErrLocked is wrapped (with registry.ErrUnavailable) by the error of
// opening a registry another process holds: the commands add how to reach
// it (their --bridge URL) or that it must be stopped.
var ErrLocked = errors.New("locked by another process")

// Exists reports whether directory path holds a leveldb database: nil if
// it does, an error wrapping registry.ErrNotFound if there is nothing there
// (or a directory without leveldb's CURRENT file), another registry error
// if it cannot be told. It creates nothing.
func Exists(path string) error {
	_, err := os.Stat(filepath.Join(path, "CURRENT"))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		what := "nothing at that path"
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			what = "a directory without a leveldb database (no CURRENT file)"
		} else if serr == nil {
			what = "a file, not a directory"
		}
		return &registry.Error{Op: "open", Err: fmt.Errorf("no leveldb registry at %s: %s (a mistyped path?): %w", path, what, registry.ErrNotFound)}
	}
	return &registry.Error{Op: "open", Err: fmt.Errorf("%w: leveldb registry %s: %v", registry.ErrUnavailable, path, err)}
}

// openErr wraps an error of opening path: another process's lock is named.
func openErr(path string, err error) error {
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
		return &registry.Error{Op: "open", Err: fmt.Errorf("%w: leveldb registry %s is %w (a running murder-bridge?): %v", registry.ErrUnavailable, path, ErrLocked, err)}
	}
	return &registry.Error{Op: "open", Err: fmt.Errorf("%w: leveldb registry %s: %v", registry.ErrUnavailable, path, err)}
}

// Open opens (creating if needed, unless o.MustExist) the registry in
// directory path. When another process holds it, the error says so and
// wraps registry.ErrUnavailable and ErrLocked.
func Open(ctx context.Context, path string, o *Options) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	dbo := dbOptions(o)
	if o.MustExist {
		if err := Exists(path); err != nil {
			return nil, err
		}
		dbo.ErrorIfMissing = true
	}
	db, err := goleveldb.OpenFile(path, dbo)
	if err != nil {
		return nil, openErr(path, err)
	}
	s := &Store{path: path, db: db, wo: &opt.WriteOptions{Sync: !o.NoSync}, notify: make(chan struct{}), closed: make(chan struct{}), pending: map[string]pendingVal{}}
	s.cond = sync.NewCond(&s.mu)
	v, err := db.Get([]byte(keyVer), nil)
	switch {
	case errors.Is(err, goleveldb.ErrNotFound) || err == nil && string(v) == version1:
		// New, or written by a version that stored JSON only: from now
		// on entries may be compact, which that version cannot read.
		if err := db.Put([]byte(keyVer), []byte(version), s.wo); err != nil {
			db.Close()
			return nil, &registry.Error{Op: "open", Err: registry.Unavailable(err)}
		}
	case err != nil:
		db.Close()
		return nil, &registry.Error{Op: "open", Err: registry.Unavailable(err)}
	case string(v) != version:
		db.Close()
		return nil, &registry.Error{Op: "open", Err: fmt.Errorf("leveldb registry %s has format version %q, this program knows %q: %w", path, v, version, registry.ErrInvalid)}
	}
	if s.rev, err = s.getInt(keyRev); err != nil {
		db.Close()
		return nil, &registry.Error{Op: "open", Err: err}
	}
	s.next = s.rev
	return s, nil
}

func (s *Store) getInt(key string) (int64, error) { return readInt(s.db, key, s.path) }

func readInt(g getter, key, path string) (int64, error) {
	v, err := g.Get([]byte(key), nil)
	if errors.Is(err, goleveldb.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, registry.Unavailable(err)
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("leveldb registry %s: key %q holds %d bytes, want 8", path, key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func be64(n int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

func changeKey(rev int64) []byte { return append([]byte(pfxChange), be64(rev)...) }

// Close releases the lock. Watches end.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		close(s.closed)
		s.closeMu.Unlock()
		s.watchers.Wait()
		s.mu.Lock()
		err = s.db.Close()
		s.mu.Unlock()
	})
	return err
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

// Get implements registry.Store.
func (s *Store) Get(ctx context.Context, name string) (registry.Entry, error) {
	if err := s.check(ctx, "get", name); err != nil {
		return registry.Entry{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Entry{}, registry.E("get", name, err)
	}
	e, ok, err := s.getEntry(s.db, registry.DBName(name))
	if err != nil {
		return registry.Entry{}, registry.E("get", name, err)
	}
	if !ok {
		return registry.Entry{}, registry.E("get", name, registry.ErrNotFound)
	}
	return e, nil
}

// decodeEntry decodes a stored entry; the place is formatted only for an
// error (formatting it for every entry cost a sixth of a full listing).
func (s *Store) decodeEntry(v, key []byte) (registry.Entry, error) {
	e, err := registry.DecodeEntry(v, "")
	if err != nil {
		_, err = registry.DecodeEntry(v, fmt.Sprintf("%s key %q", s.path, key))
	}
	return e, err
}

type getter interface {
	Get(key []byte, ro *opt.ReadOptions) ([]byte, error)
}

func (s *Store) getEntry(g getter, db string) (registry.Entry, bool, error) {
	v, err := g.Get([]byte(pfxEntry+db), nil)
	if errors.Is(err, goleveldb.ErrNotFound) {
		return registry.Entry{}, false, nil
	}
	if err != nil {
		return registry.Entry{}, false, registry.Unavailable(err)
	}
	e, err := s.decodeEntry(v, []byte(pfxEntry+db))
	return e, err == nil, err
}

func (s *Store) getTomb(g getter, db string) (registry.Tombstone, bool, error) {
	v, err := g.Get([]byte(pfxTomb+db), nil)
	if errors.Is(err, goleveldb.ErrNotFound) {
		return registry.Tombstone{}, false, nil
	}
	if err != nil {
		return registry.Tombstone{}, false, registry.Unavailable(err)
	}
	t, err := registry.DecodeTombstone(v, fmt.Sprintf("%s key %q", s.path, pfxTomb+db))
	return t, err == nil, err
}

// GetTombstone implements registry.Store.
func (s *Store) GetTombstone(ctx context.Context, name string) (registry.Tombstone, error) {
	if err := s.check(ctx, "get-tombstone", name); err != nil {
		return registry.Tombstone{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Tombstone{}, registry.E("get-tombstone", name, err)
	}
	t, ok, err := s.getTomb(s.db, registry.DBName(name))
	if err != nil {
		return registry.Tombstone{}, registry.E("get-tombstone", name, err)
	}
	if !ok {
		return registry.Tombstone{}, registry.E("get-tombstone", name, registry.ErrNotFound)
	}
	return t, nil
}

// batch collects one atomic write.
type batch struct {
	b   goleveldb.Batch
	rev int64
}

// casRefusal is why a delete that expects revision rev (0: any) of a key
// refuses: absent, or at another revision; nil when it may go on.
func casRefusal(exists bool, rev, cur int64) error {
	switch {
	case !exists:
		return registry.ErrNotFound
	case rev != 0 && rev != cur:
		return fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, rev, cur)
	}
	return nil
}

// putEntry adds to b the writes that store e at a new revision, replacing
// old (if any): entry, index diff, tombstone removal, change record.
func (s *Store) putEntry(b *batch, e *registry.Entry, old *registry.Entry, hadTomb bool) {
	b.rev++
	e.Revision = b.rev
	s.notePrev(b.rev, old)
	db := registry.DBName(e.Name)
	var oldKeys []string
	if old != nil {
		oldKeys = registry.StoredIndexKeys(old)
	}
	del, add := registry.DiffKeys(oldKeys, registry.IndexKeys(e))
	for _, k := range del {
		b.b.Delete([]byte(pfxIndex + k))
	}
	for _, k := range add {
		b.b.Put([]byte(pfxIndex+k), nil)
	}
	if hadTomb {
		b.b.Delete([]byte(pfxTomb + db))
	}
	// The change record is the entry's stored form after a kind byte.
	rec := registry.AppendEntryBinary(append(make([]byte, 0, 256), chPut), e, true)
	b.b.Put([]byte(pfxEntry+db), rec[1:])
	b.b.Put(changeKey(b.rev), rec)
}

// group is one synced leveldb write of several writers' batches.
type group struct {
	b    goleveldb.Batch
	rev  int64 // last revision in the group
	gen  uint64
	n    int // writers in the group
	done bool
	err  error
}

// maxLinger bounds how long a group's leader waits for more writers before
// it writes (see commit).
const maxLinger = 250 * time.Microsecond

// pendingVal is a key's value in a group not yet on disk (del: removed).
type pendingVal struct {
	v   []byte
	del bool
	gen uint64
}

// pendingReader reads through the pending groups to the disk state; used
// with s.mu held by writers checking what they replace.
type pendingReader struct{ s *Store }

func (p pendingReader) Get(key []byte, ro *opt.ReadOptions) ([]byte, error) {
	if pv, ok := p.s.pending[string(key)]; ok {
		if pv.del {
			return nil, goleveldb.ErrNotFound
		}
		return pv.v, nil
	}
	return p.s.db.Get(key, ro)
}

// groupAppender copies a writer's batch into the open group and records
// its entry, tombstone and slot keys as pending.
type groupAppender struct {
	g    *group
	p    map[string]pendingVal
	copy bool // false: the batch already is g's
}

func tracked(k []byte) bool {
	return len(k) > 0 && (k[0] == pfxEntry[0] || k[0] == pfxTomb[0] || k[0] == pfxSlot[0])
}

func (a groupAppender) Put(k, v []byte) {
	if a.copy {
		a.g.b.Put(k, v)
	}
	if tracked(k) {
		a.p[string(k)] = pendingVal{v: append([]byte(nil), v...), gen: a.g.gen}
	}
}

func (a groupAppender) Delete(k []byte) {
	if a.copy {
		a.g.b.Delete(k)
	}
	if tracked(k) {
		a.p[string(k)] = pendingVal{del: true, gen: a.g.gen}
	}
}

// commit is called with s.mu held (and returns with it held): it adds b,
// whose revisions follow s.next, to the open group and returns once that
// group is on disk (synced unless NoSync) or has failed.
func (s *Store) commit(b *batch) error {
	b.b.Put([]byte(keyRev), be64(b.rev))
	g := s.open
	if g == nil {
		s.gen++
		g = &group{gen: s.gen}
		s.open = g
	}
	first := g.b.Len() == 0
	if first {
		// The usual case for a lone writer: take the batch as it is.
		g.b = b.b
	}
	if err := b.b.Replay(groupAppender{g: g, p: s.pending, copy: !first}); err != nil {
		return registry.Unavailable(err)
	}
	g.rev = b.rev
	g.n++
	s.next = b.rev
	for !g.done {
		if s.writing {
			s.cond.Wait()
			continue
		}
		// Lead: write the open group (g itself, as no one else took it).
		// Under concurrency the writers of the group just written come
		// back a moment later than those who waited during its sync: a
		// leader that went at once would split the writers into two
		// halves taking turns, half of them per sync. So, once groups of
		// several writers are seen, the leader lets the others run (s.mu
		// released) until the group is larger than the largest recent one
		// or maxLinger has passed; a lone writer never waits.
		if s.peakN > 1 {
			deadline := time.Now().Add(maxLinger)
			for o := s.open; o != nil && o.n <= s.peakN && !s.writing && time.Now().Before(deadline); o = s.open {
				s.mu.Unlock()
				runtime.Gosched()
				s.mu.Lock()
			}
			if s.writing || s.open == nil {
				continue // another writer led meanwhile (or failed the group)
			}
		}
		w := s.open
		s.open = nil
		s.writing = true
		s.mu.Unlock()
		err := s.db.Write(&w.b, s.wo)
		s.mu.Lock()
		s.writing = false
		s.finish(w, err)
	}
	return g.err
}

// settle is called with s.mu held by a writer about to refuse a write
// because of the state of keys: when some of them are pending, it waits
// until their groups are written (or failed) and returns true, and the
// writer checks again. A refusal is thus only ever based on what is on
// disk, and a retrying caller's next read sees the state that refused it.
func (s *Store) settle(keys ...string) bool {
	var g uint64
	for _, k := range keys {
		if pv, ok := s.pending[k]; ok && pv.gen > g {
			g = pv.gen
		}
	}
	if g == 0 {
		return false
	}
	for s.doneGen < g {
		s.cond.Wait()
	}
	return true
}

// commitAlone is commit for a bulk batch (Import): it waits until no
// group is open or being written and writes b itself under s.mu, so its
// keys need not be tracked as pending.
func (s *Store) commitAlone(b *batch) error {
	for s.writing || s.open != nil {
		s.cond.Wait()
	}
	b.b.Put([]byte(keyRev), be64(b.rev))
	s.gen++
	w := &group{b: b.b, rev: b.rev, gen: s.gen}
	s.next = b.rev
	s.finish(w, s.db.Write(&w.b, s.wo))
	return w.err
}

func (s *Store) finish(w *group, err error) {
	w.done = true
	s.doneGen = w.gen
	if err != nil {
		s.doneGen = s.gen
		w.err = registry.Unavailable(err)
		// The open group was checked against w's writes: it fails too.
		if o := s.open; o != nil {
			o.done, o.err = true, fmt.Errorf("%w: an earlier write it depended on failed: %v", registry.ErrUnavailable, err)
			s.open = nil
		}
		clear(s.pending)
		s.next = s.rev
		s.cond.Broadcast()
		return
	}
	s.rev = w.rev
	s.groups++
	// The largest recent group, decaying by one per group written.
	s.peakN = max(w.n, s.peakN-1)
	for k, pv := range s.pending {
		if pv.gen == w.gen {
			delete(s.pending, k)
		}
	}
	close(s.notify)
	s.notify = make(chan struct{})
	s.cond.Broadcast()
}

func (s *Store) write(ctx context.Context, op string, e registry.Entry, mode int) (registry.Entry, error) {
	if err := s.check(ctx, op, e.Name); err != nil {
		return registry.Entry{}, err
	}
	if err := registry.Prepare(&e); err != nil {
		return registry.Entry{}, registry.E(op, e.Name, err)
	}
	db := registry.DBName(e.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, op, e.Name); err != nil {
		return registry.Entry{}, err
	}
	var (
		old, exists   = registry.Entry{}, false
		tomb, hasTomb = registry.Tombstone{}, false
	)
	for {
		var err error
		old, exists, err = s.getEntry(pendingReader{s}, db)
		if err != nil {
			return registry.Entry{}, registry.E(op, e.Name, err)
		}
		// A name has an entry or a tombstone, never both (Delete
		// replaces the one with the other, every write of an entry
		// removes the tombstone): only an absent entry needs the read.
		tomb, hasTomb = registry.Tombstone{}, false
		if !exists {
			if tomb, hasTomb, err = s.getTomb(pendingReader{s}, db); err != nil {
				return registry.Entry{}, registry.E(op, e.Name, err)
			}
		}
		var refusal error
		switch mode {
		case modeCreate:
			if exists {
				refusal = registry.ErrExists
			}
		case modeUpdate:
			if !exists {
				refusal = registry.ErrNotFound
			} else if old.Revision != e.Revision {
				refusal = fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, e.Revision, old.Revision)
			}
		}
		if refusal == nil && !exists && hasTomb && registry.TombstoneBlocks(&tomb, &e) {
			refusal = fmt.Errorf("%w: state read at revision %d, deleted at %d", registry.ErrTombstoned, e.Revision, tomb.Revision)
		}
		if refusal == nil {
			break
		}
		if !s.settle(pfxEntry+db, pfxTomb+db) {
			return registry.Entry{}, registry.E(op, e.Name, refusal)
		}
	}
	b := &batch{rev: s.next}
	var oldp *registry.Entry
	if exists {
		oldp = &old
	}
	s.putEntry(b, &e, oldp, hasTomb)
	if err := s.commit(b); err != nil {
		return registry.Entry{}, registry.E(op, e.Name, err)
	}
	return e, nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	var old registry.Entry
	for {
		var exists bool
		var err error
		old, exists, err = s.getEntry(pendingReader{s}, db)
		if err != nil {
			return registry.Tombstone{}, registry.E("delete", name, err)
		}
		refusal := casRefusal(exists, rev, old.Revision)
		if refusal == nil {
			break
		}
		if !s.settle(pfxEntry + db) {
			return registry.Tombstone{}, registry.E("delete", name, refusal)
		}
	}
	b := &batch{rev: s.next + 1}
	s.notePrev(b.rev, &old)
	t := registry.Tombstone{Name: name, UniqueID: old.UniqueID, UIDValidity: old.UIDValidity, Revision: b.rev, Time: time.Now().UTC()}
	for _, k := range registry.StoredIndexKeys(&old) {
		b.b.Delete([]byte(pfxIndex + k))
	}
	b.b.Delete([]byte(pfxEntry + db))
	enc := registry.EncodeTombstone(&t, true)
	b.b.Put([]byte(pfxTomb+db), enc)
	b.b.Put(changeKey(b.rev), append([]byte{chDel}, enc...))
	if err := s.commit(b); err != nil {
		return registry.Tombstone{}, registry.E("delete", name, err)
	}
	return t, nil
}

// Import implements registry.Store: the whole call is one leveldb batch.
func (s *Store) Import(ctx context.Context, entries []registry.Entry) (registry.ImportStats, error) {
	var st registry.ImportStats
	if err := s.check(ctx, "import", ""); err != nil {
		return st, err
	}
	entries = append([]registry.Entry(nil), entries...) // Prepare normalises; keep the caller's slice
	dbs := make([]string, len(entries))
	for i := range entries {
		if err := registry.Prepare(&entries[i]); err != nil {
			return st, registry.E("import", entries[i].Name, err)
		}
		dbs[i] = registry.DBName(entries[i].Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	oldE, err := s.lookupMany(pfxEntry, dbs)
	if err != nil {
		return registry.ImportStats{}, registry.E("import", "", err)
	}
	oldT, err := s.lookupMany(pfxTomb, dbs)
	if err != nil {
		return registry.ImportStats{}, registry.E("import", "", err)
	}
	if len(s.pending) > 0 {
		// Writes of groups not yet on disk count as present.
		for _, db := range dbs {
			for _, m := range []struct {
				pfx string
				out map[string][]byte
			}{{pfxEntry, oldE}, {pfxTomb, oldT}} {
				if pv, ok := s.pending[m.pfx+db]; ok {
					if pv.del {
						delete(m.out, db)
					} else {
						m.out[db] = pv.v
					}
				}
			}
		}
	}
	b := &batch{rev: s.next}
	b.b = *goleveldb.MakeBatch(len(entries) * 768)
	// Names repeated inside one call: the last one wins, as sequential
	// writes would give.
	pending := map[string]*registry.Entry{}
	var cmpA, cmpB []byte
	for i := range entries {
		e := entries[i]
		db := dbs[i]
		var oldp *registry.Entry
		if p, ok := pending[db]; ok {
			oldp = p
		} else if raw, ok := oldE[db]; ok {
			old, err := s.decodeEntry(raw, []byte(pfxEntry+db))
			if err != nil {
				return registry.ImportStats{}, registry.E("import", e.Name, err)
			}
			oldp = &old
		}
		if oldp != nil {
			// Compared in the compact form: an entry stored as JSON by an
			// older version is unchanged when its content is.
			e.Revision = oldp.Revision
			cmpA = registry.AppendEntryBinary(cmpA[:0], &e, true)
			cmpB = registry.AppendEntryBinary(cmpB[:0], oldp, true)
			if bytes.Equal(cmpA, cmpB) {
				st.Unchanged++
				continue
			}
			st.Updated++
		} else {
			st.Created++
		}
		_, hasTomb := oldT[db]
		delete(oldT, db)
		s.putEntry(b, &e, oldp, hasTomb)
		pending[db] = &e
	}
	if b.rev == s.next {
		return st, nil
	}
	if err := s.commitAlone(b); err != nil {
		return registry.ImportStats{}, registry.E("import", "", err)
	}
	return st, nil
}

// lookupMany returns the stored values of pfx+db for those dbs that exist.
// A batch from a sorted source covers a narrow key range: one iterator over
// it answers every name with a single seek (a fresh import finds it empty).
// When the range holds many other keys, the rest are looked up one by one.
func (s *Store) lookupMany(pfx string, dbs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(dbs) == 0 {
		return out, nil
	}
	sorted := append([]string(nil), dbs...)
	sort.Strings(sorted)
	want := make(map[string]bool, len(sorted))
	for _, d := range sorted {
		want[d] = true
	}
	it := s.db.NewIterator(&util.Range{Start: []byte(pfx + sorted[0]), Limit: []byte(pfx + sorted[len(sorted)-1] + "\x00")}, nil)
	budget := 2*len(sorted) + 64
	visited := 0
	complete := true
	for it.Next() {
		if visited++; visited > budget {
			complete = false
			break
		}
		db := string(it.Key()[len(pfx):])
		if want[db] {
			out[db] = append([]byte(nil), it.Value()...)
		}
	}
	err := it.Error()
	it.Release()
	if err != nil {
		return nil, registry.Unavailable(err)
	}
	if complete {
		return out, nil
	}
	for _, db := range sorted {
		if _, ok := out[db]; ok {
			continue
		}
		v, err := s.db.Get([]byte(pfx+db), nil)
		switch {
		case errors.Is(err, goleveldb.ErrNotFound):
		case err != nil:
			return nil, registry.Unavailable(err)
		default:
			out[db] = v
		}
	}
	return out, nil
}

// List implements registry.Store over one leveldb snapshot.
func (s *Store) List(ctx context.Context, prefix string, fn func(registry.Entry) error) (int64, error) {
	if err := s.check(ctx, "list", prefix); err != nil {
		return 0, err
	}
	r, err := registry.Prefix(prefix)
	if err != nil {
		return 0, registry.E("list", prefix, err)
	}
	snap, rev, err := s.snapshot()
	if err != nil {
		return 0, registry.E("list", prefix, err)
	}
	defer snap.Release()
	it := snap.NewIterator(rangeOf(pfxEntry, r), nil)
	defer it.Release()
	n := 0
	for it.Next() {
		db := string(it.Key()[len(pfxEntry):])
		if !r.Match(db) {
			continue
		}
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, registry.E("list", prefix, err)
			}
		}
		e, err := s.decodeEntry(it.Value(), it.Key())
		if err != nil {
			return 0, registry.E("list", prefix, err)
		}
		if err := fn(e); err != nil {
			return 0, err
		}
	}
	if err := it.Error(); err != nil {
		return 0, registry.E("list", prefix, registry.Unavailable(err))
	}
	return rev, nil
}

func (s *Store) snapshot() (*goleveldb.Snapshot, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return nil, 0, registry.Unavailable(err)
	}
	// The revision the snapshot holds (a group may be on disk before
	// s.rev says so).
	rev, err := readInt(snap, keyRev, s.path)
	if err != nil {
		snap.Release()
		return nil, 0, err
	}
	return snap, rev, nil
}

func rangeOf(pfx string, r registry.PrefixRange) *util.Range {
	if r.All {
		return util.BytesPrefix([]byte(pfx))
	}
	rg := &util.Range{Start: []byte(pfx + r.Start())}
	if end := r.End(); end != "" {
		rg.Limit = []byte(pfx + end)
	} else {
		rg.Limit = util.BytesPrefix([]byte(pfx)).Limit
	}
	return rg
}

// Count implements registry.Store.
func (s *Store) Count(ctx context.Context, prefix string) (int, error) {
	if err := s.check(ctx, "count", prefix); err != nil {
		return 0, err
	}
	r, err := registry.Prefix(prefix)
	if err != nil {
		return 0, registry.E("count", prefix, err)
	}
	it := s.db.NewIterator(rangeOf(pfxEntry, r), nil)
	defer it.Release()
	n := 0
	for it.Next() {
		if r.Match(string(it.Key()[len(pfxEntry):])) {
			n++
		}
	}
	if err := it.Error(); err != nil {
		return 0, registry.E("count", prefix, registry.Unavailable(err))
	}
	return n, nil
}

// Visible implements registry.Store over the reverse-ACL index, read from
// one snapshot.
func (s *Store) Visible(ctx context.Context, userid string, groups []string) ([]string, error) {
	if err := s.check(ctx, "visible", userid); err != nil {
		return nil, err
	}
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return nil, registry.E("visible", userid, registry.Unavailable(err))
	}
	defer snap.Release()
	// One iterator for every prefix (creating a leveldb iterator costs more
	// than seeking one).
	it := snap.NewIterator(util.BytesPrefix([]byte(pfxIndex)), nil)
	defer it.Release()
	scan := func(ctx context.Context, prefix string, fn func(string) error) error {
		p := []byte(pfxIndex + prefix)
		for ok := it.Seek(p); ok && bytes.HasPrefix(it.Key(), p); ok = it.Next() {
			if err := fn(string(it.Key()[len(p):])); err != nil {
				return err
			}
		}
		if err := it.Error(); err != nil {
			return registry.Unavailable(err)
		}
		return nil
	}
	names, err := registry.VisibleRules(ctx, scan, userid, groups)
	if err != nil {
		return nil, registry.E("visible", userid, err)
	}
	return names, nil
}

// Revision implements registry.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.check(ctx, "revision", ""); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev, nil
}
