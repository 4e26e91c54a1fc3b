package leveldb

import (
	"context"
	"errors"
	"fmt"
	"time"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/registry"
)

// Watch implements registry.Store: it reads the change log (one record per
// revision, written in the same batch as the change) from from+1 on, then
// waits for the next write. Nothing is missed or repeated because the log,
// not an in-memory queue, is the source.
func (s *Store) Watch(ctx context.Context, from int64) <-chan registry.Event {
	ch := make(chan registry.Event, watchBuffer)
	// check and Add under closeMu, so that Close (which closes s.closed under
	// closeMu, then Waits) never races an Add and never returns while a
	// watcher it did not wait for still reads the database
	s.closeMu.Lock()
	if err := s.check(ctx, "watch", ""); err != nil {
		s.closeMu.Unlock()
		ch <- registry.Event{Err: err}
		close(ch)
		return ch
	}
	s.watchers.Add(1)
	s.closeMu.Unlock()
	s.mu.Lock()
	// A request from now on is answered, and so is one made just before
	// (a NOOP may ask while the stream's watch is starting): a new watch
	// confirms its progress once it has caught up.
	answered := s.asked - 1
	s.mu.Unlock()
	go func() {
		defer s.watchers.Done()
		defer close(ch)
		send := func(ev registry.Event) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
			case <-s.closed:
			}
			return false
		}
		next := from + 1
		for {
			s.mu.Lock()
			notify, cur, asked := s.notify, s.rev, s.asked
			s.mu.Unlock()
			floor, err := s.getInt(keyFloor)
			if err != nil {
				send(registry.Event{Err: registry.E("watch", "", err)})
				return
			}
			if next < floor {
				send(registry.Event{Err: registry.E("watch", "", fmt.Errorf("%w: revision %d is older than the oldest kept change %d", registry.ErrCompacted, next, floor))})
				return
			}
			if next <= cur {
				it := s.db.NewIterator(&util.Range{Start: changeKey(next), Limit: changeKey(cur + 1)}, nil)
				for it.Next() {
					ev, err := decodeChange(it.Key(), it.Value(), s.path)
					if err != nil {
						it.Release()
						send(registry.Event{Err: registry.E("watch", "", err)})
						return
					}
					ev.Prev = s.prevOf(ev.Revision)
					if !send(ev) {
						it.Release()
						return
					}
				}
				err := it.Error()
				it.Release()
				if err != nil {
					send(registry.Event{Err: registry.E("watch", "", registry.Unavailable(err))})
					return
				}
				next = cur + 1
			}
			if asked != answered {
				// everything up to cur is delivered (slot revisions
				// have no change record)
				if !send(registry.Event{Type: registry.EventProgress, Revision: cur}) {
					return
				}
				answered = asked
			}
			select {
			case <-notify:
			case <-ctx.Done():
				return
			case <-s.closed:
				return
			}
		}
	}()
	return ch
}

// RequestProgress implements registry.ProgressRequester: it returns the
// store's revision, and every watch sends an EventProgress with the
// revision it has delivered up to (at least that one) as soon as it has
// delivered the changes before it. A bridge's streaming NOOP relies on it to flush
// changes written to the store by another path (follow mode, mboxconv,
// the HTTP API) and to pass revisions that carry no mailbox change.
func (s *Store) RequestProgress(ctx context.Context) (int64, error) {
	if err := s.check(ctx, "request-progress", ""); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	close(s.notify)
	s.notify = make(chan struct{})
	return s.rev, nil
}

func decodeChange(k, v []byte, path string) (registry.Event, error) {
	ev, err := decodeChangeAt(k, v, "")
	if err != nil {
		// the place, formatted only for an error
		_, err = decodeChangeAt(k, v, fmt.Sprintf("%s change key %x", path, k))
	}
	return ev, err
}

func decodeChangeAt(k, v []byte, where string) (registry.Event, error) {
	if len(k) != 9 || len(v) < 1 {
		return registry.Event{}, fmt.Errorf("registry: corrupt change record at %s", where)
	}
	switch v[0] {
	case chPut:
		e, err := registry.DecodeEntry(v[1:], where)
		if err != nil {
			return registry.Event{}, err
		}
		return registry.Event{Type: registry.EventPut, Revision: e.Revision, Name: e.Name, Entry: e}, nil
	case chDel:
		t, err := registry.DecodeTombstone(v[1:], where)
		if err != nil {
			return registry.Event{}, err
		}
		return registry.Event{Type: registry.EventDelete, Revision: t.Revision, Name: t.Name, Tombstone: t}, nil
	}
	return registry.Event{}, fmt.Errorf("registry: corrupt change record at %s: kind %q", where, v[0])
}

// KeepChanges is how many revisions of change log GCTombstones keeps for
// Watch resumption; older ones are trimmed (a watcher that far behind gets
// ErrCompacted and starts over with List).
var KeepChanges int64 = 5_000_000

// GCTombstones implements registry.Store; it also trims the change log to
// KeepChanges revisions.
func (s *Store) GCTombstones(ctx context.Context, cutoff time.Time) (int, error) {
	if err := s.check(ctx, "gc", ""); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b goleveldb.Batch
	n := 0
	it := s.db.NewIterator(util.BytesPrefix([]byte(pfxTomb)), nil)
	for it.Next() {
		t, err := registry.DecodeTombstone(it.Value(), fmt.Sprintf("%s key %q", s.path, it.Key()))
		if err != nil {
			it.Release()
			return 0, registry.E("gc", "", err)
		}
		if _, busy := s.pending[string(it.Key())]; busy {
			continue // rewritten by a group not yet on disk
		}
		if t.Time.Before(cutoff) {
			b.Delete(append([]byte(nil), it.Key()...))
			n++
		}
	}
	err := it.Error()
	it.Release()
	if err != nil {
		return 0, registry.E("gc", "", registry.Unavailable(err))
	}
	if floor := s.rev - KeepChanges + 1; floor > 1 {
		old, err := s.getInt(keyFloor)
		if err != nil {
			return 0, registry.E("gc", "", err)
		}
		if floor > old {
			it := s.db.NewIterator(&util.Range{Start: changeKey(old), Limit: changeKey(floor)}, nil)
			for it.Next() {
				b.Delete(append([]byte(nil), it.Key()...))
			}
			it.Release()
			b.Put([]byte(keyFloor), be64(floor))
		}
	}
	if b.Len() == 0 {
		return 0, nil
	}
	if err := s.db.Write(&b, s.wo); err != nil {
		return 0, registry.E("gc", "", registry.Unavailable(err))
	}
	return n, nil
}

// Slots.

func (s *Store) getSlot(g getter, name string) (registry.Slot, bool, error) {
	v, err := g.Get([]byte(pfxSlot+name), nil)
	if errors.Is(err, goleveldb.ErrNotFound) {
		return registry.Slot{}, false, nil
	}
	if err != nil {
		return registry.Slot{}, false, registry.Unavailable(err)
	}
	sl, err := registry.DecodeSlot(v, fmt.Sprintf("%s key %q", s.path, pfxSlot+name))
	return sl, err == nil, err
}

// GetSlot implements registry.Store.
func (s *Store) GetSlot(ctx context.Context, name string) (registry.Slot, error) {
	if err := s.check(ctx, "get-slot", name); err != nil {
		return registry.Slot{}, err
	}
	sl, ok, err := s.getSlot(s.db, name)
	if err != nil {
		return registry.Slot{}, registry.E("get-slot", name, err)
	}
	if !ok {
		return registry.Slot{}, registry.E("get-slot", name, registry.ErrNotFound)
	}
	return sl, nil
}

// ListSlots implements registry.Store, in name order.
func (s *Store) ListSlots(ctx context.Context) ([]registry.Slot, error) {
	if err := s.check(ctx, "list-slots", ""); err != nil {
		return nil, err
	}
	var out []registry.Slot
	it := s.db.NewIterator(util.BytesPrefix([]byte(pfxSlot)), nil)
	defer it.Release()
	for it.Next() {
		sl, err := registry.DecodeSlot(it.Value(), fmt.Sprintf("%s key %q", s.path, it.Key()))
		if err != nil {
			return nil, registry.E("list-slots", "", err)
		}
		out = append(out, sl)
	}
	if err := it.Error(); err != nil {
		return nil, registry.E("list-slots", "", registry.Unavailable(err))
	}
	return out, nil
}

func (s *Store) writeSlot(ctx context.Context, op string, sl registry.Slot, create bool) (registry.Slot, error) {
	if err := s.check(ctx, op, sl.Name); err != nil {
		return registry.Slot{}, err
	}
	if err := registry.ValidateSlot(sl); err != nil {
		return registry.Slot{}, registry.E(op, sl.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		old, exists, err := s.getSlot(pendingReader{s}, sl.Name)
		if err != nil {
			return registry.Slot{}, registry.E(op, sl.Name, err)
		}
		var refusal error
		switch {
		case create && exists:
			refusal = registry.ErrExists
		case !create && !exists:
			refusal = registry.ErrNotFound
		case !create && old.Revision != sl.Revision:
			refusal = fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, sl.Revision, old.Revision)
		}
		if refusal == nil {
			break
		}
		if !s.settle(pfxSlot + sl.Name) {
			return registry.Slot{}, registry.E(op, sl.Name, refusal)
		}
	}
	b := &batch{rev: s.next + 1}
	sl.Revision = b.rev
	b.b.Put([]byte(pfxSlot+sl.Name), registry.EncodeSlot(&sl, true))
	if err := s.commit(b); err != nil {
		return registry.Slot{}, registry.E(op, sl.Name, err)
	}
	return sl, nil
}

// CreateSlot implements registry.Store.
func (s *Store) CreateSlot(ctx context.Context, sl registry.Slot) (registry.Slot, error) {
	return s.writeSlot(ctx, "create-slot", sl, true)
}

// UpdateSlot implements registry.Store.
func (s *Store) UpdateSlot(ctx context.Context, sl registry.Slot) (registry.Slot, error) {
	return s.writeSlot(ctx, "update-slot", sl, false)
}

// DeleteSlot implements registry.Store.
func (s *Store) DeleteSlot(ctx context.Context, name string, rev int64) error {
	if err := s.check(ctx, "delete-slot", name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		old, exists, err := s.getSlot(pendingReader{s}, name)
		if err != nil {
			return registry.E("delete-slot", name, err)
		}
		refusal := casRefusal(exists, rev, old.Revision)
		if refusal == nil {
			break
		}
		if !s.settle(pfxSlot + name) {
			return registry.E("delete-slot", name, refusal)
		}
	}
	b := &batch{rev: s.next + 1}
	b.b.Delete([]byte(pfxSlot + name))
	if err := s.commit(b); err != nil {
		return registry.E("delete-slot", name, err)
	}
	return nil
}

// Compact compacts the whole key space (leveldb's CompactRange): after a
// bulk import, reads then find every key in few tables. Reads and writes
// may continue meanwhile.
func (s *Store) Compact(ctx context.Context) error {
	if err := s.check(ctx, "compact", ""); err != nil {
		return err
	}
	if err := s.db.CompactRange(util.Range{}); err != nil {
		return registry.E("compact", "", registry.Unavailable(err))
	}
	return nil
}

// watchBuffer is how many events a watch holds for a slow consumer. An
// Event is ~344 bytes and every idle UPDATE client holds one watch, so the
// buffer is kept small (a larger one made an idle client cost ~88 KB).
const watchBuffer = 16
