package leveldb

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/murderkit/murderkit/registry"
)

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
