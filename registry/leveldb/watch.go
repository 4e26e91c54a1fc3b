package leveldb

import (
	"context"
	"fmt"

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

// watchBuffer is how many events a watch holds for a slow consumer. An
// Event is ~344 bytes and every idle UPDATE client holds one watch, so the
// buffer is kept small (a larger one made an idle client cost ~88 KB).
const watchBuffer = 16
