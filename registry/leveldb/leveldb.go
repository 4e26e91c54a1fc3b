package leveldb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"

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

const (
	modeCreate = iota
	modeUpdate
	modePut
)
