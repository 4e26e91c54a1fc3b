package etcd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/registry"
)

// RequestProgress implements registry.ProgressRequester: it reads the
// cluster's revision R (a linearizable read), remembers it as what the
// watches must confirm, and asks etcd for a progress notification on every
// watch of this client that is up to date. Watch streams are keyed by the
// context's metadata: Watch uses clientv3.WithRequireLeader, so this does
// too. A watch served by a member that has not yet applied R answers with
// less; the watch then asks again (see Watch) until it has confirmed R.
func (s *Store) RequestProgress(ctx context.Context) (int64, error) {
	r, err := s.Revision(ctx)
	if err != nil {
		return 0, err
	}
	for {
		cur := s.progressWant.Load()
		if r <= cur || s.progressWant.CompareAndSwap(cur, r) {
			break
		}
	}
	s.askMu.Lock()
	close(s.asked) // wakes the watches: they ask again until confirmed
	s.asked = make(chan struct{})
	s.askMu.Unlock()
	if err := s.cli.RequestProgress(clientv3.WithRequireLeader(ctx)); err != nil {
		return 0, registry.E("progress", "", wrap(err))
	}
	return r, nil
}

// askedChan is closed at the next RequestProgress.
func (s *Store) askedChan() <-chan struct{} {
	s.askMu.Lock()
	defer s.askMu.Unlock()
	return s.asked
}

// Watch implements registry.Store over one etcd watch of the entry,
// slot and tombstone keys (index rows are left out), starting at from+1.
// The etcd client resumes the watch on another member when its member
// fails, from the last revision it delivered.
func (s *Store) Watch(ctx context.Context, from int64) <-chan registry.Event {
	ch := make(chan registry.Event, watchBuffer)
	if err := s.check(ctx, "watch", ""); err != nil {
		ch <- registry.Event{Err: err}
		close(ch)
		return ch
	}
	go func() {
		defer close(ch)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		start, end := s.p+dirEntry, prefixEnd(s.p+dirTomb)
		send := func(ev registry.Event) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		next := from + 1
		var confirmed int64 // the highest trusted progress revision
		asked := s.askedChan()
		for {
			wch := s.cli.Watch(wctx, start, clientv3.WithRange(end), clientv3.WithRev(next), clientv3.WithProgressNotify(), clientv3.WithPrevKV())
			var reask <-chan time.Time
			if s.progressWant.Load() > confirmed {
				// a request may have come just before this watch
				reask = time.After(progressUnanswered)
			}
			trustFrom := time.Now().Add(newWatchSync) // see IsProgressNotify below
		stream:
			for {
				var resp clientv3.WatchResponse
				select {
				case r, ok := <-wch:
					if !ok {
						break stream
					}
					resp = r
				case <-asked:
					asked = s.askedChan()
					if reask == nil {
						reask = time.After(progressUnanswered)
					}
					continue
				case <-reask:
					reask = nil
					if confirmed < s.progressWant.Load() {
						// unconfirmed: etcd may have ignored the request
						s.cli.RequestProgress(wctx)
						reask = time.After(progressUnanswered)
					}
					continue
				}
				if resp.CompactRevision != 0 {
					send(registry.Event{Err: registry.E("watch", "", fmt.Errorf("%w: revision %d is older than the cluster's compaction at %d", registry.ErrCompacted, next, resp.CompactRevision))})
					return
				}
				if err := resp.Err(); err != nil {
					break // reopen from next below
				}
				if resp.IsProgressNotify() {
					if wait := time.Until(trustFrom); wait > 0 {
						// etcd may confirm a watch it is still creating
						// before the changes it owes the watch
						// (etcd-io/etcd#15220, #17507; seen here 50-60 ms
						// early): not passed on; asked again once etcd has
						// synced the new watch.
						if reask == nil {
							reask = time.After(wait)
						}
						continue
					}
					// Every change up to the header's revision was sent.
					if r := resp.Header.Revision; r >= next {
						next = r + 1
					}
					confirmed = max(confirmed, resp.Header.Revision)
					if resp.Header.Revision < s.progressWant.Load() && reask == nil {
						// this watch's member lags the revision a
						// RequestProgress promised: ask again shortly
						reask = time.After(askProgressAgain)
					}
					if !send(registry.Event{Type: registry.EventProgress, Revision: resp.Header.Revision}) {
						return
					}
					continue
				}
				// An entry's deletion and its tombstone's put share a
				// revision (one transaction, so one response): the deleted
				// entry becomes the tombstone event's Prev.
				var deleted map[string]*mvccpb.KeyValue
				for _, ev := range resp.Events {
					if ev.Type == clientv3.EventTypeDelete && ev.PrevKv != nil && strings.HasPrefix(string(ev.Kv.Key), s.p+dirEntry) {
						if deleted == nil {
							deleted = map[string]*mvccpb.KeyValue{}
						}
						deleted[string(ev.Kv.Key[len(s.p+dirEntry):])] = ev.PrevKv
					}
				}
				for _, ev := range resp.Events {
					out, ok, err := s.event(ev, deleted)
					if err != nil {
						send(registry.Event{Err: registry.E("watch", "", err)})
						return
					}
					if ok && !send(out) {
						return
					}
				}
				if n := len(resp.Events); n > 0 {
					next = resp.Events[n-1].Kv.ModRevision + 1
				}
			}
			if ctx.Err() != nil {
				return
			}
			select {
			case <-s.closed:
				send(registry.Event{Err: registry.E("watch", "", fmt.Errorf("%w: store closed", registry.ErrUnavailable))})
				return
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return ch
}

// prevEntry decodes the previous value of an entry key (nil: none).
func (s *Store) prevEntry(kv *mvccpb.KeyValue) (*registry.Entry, error) {
	if kv == nil || len(kv.Value) == 0 {
		return nil, nil
	}
	e, err := s.decodeEntry(kv.Value, kv.Key)
	if err != nil {
		return nil, err
	}
	e.Revision = kv.ModRevision
	return &e, nil
}

func (s *Store) event(ev *clientv3.Event, deleted map[string]*mvccpb.KeyValue) (registry.Event, bool, error) {
	key := string(ev.Kv.Key)
	switch {
	case strings.HasPrefix(key, s.p+dirEntry) && ev.Type == clientv3.EventTypePut:
		e, err := s.decodeEntry(ev.Kv.Value, ev.Kv.Key)
		if err != nil {
			return registry.Event{}, false, err
		}
		e.Revision = ev.Kv.ModRevision
		prev, err := s.prevEntry(ev.PrevKv)
		if err != nil {
			return registry.Event{}, false, err
		}
		return registry.Event{Type: registry.EventPut, Revision: e.Revision, Name: e.Name, Entry: e, Prev: prev}, true, nil
	case strings.HasPrefix(key, s.p+dirTomb) && ev.Type == clientv3.EventTypePut:
		t, err := registry.DecodeTombstone(ev.Kv.Value, "etcd key "+strconv.Quote(key))
		if err != nil {
			return registry.Event{}, false, err
		}
		t.Revision = ev.Kv.ModRevision
		prev, err := s.prevEntry(deleted[key[len(s.p+dirTomb):]])
		if err != nil {
			return registry.Event{}, false, err
		}
		return registry.Event{Type: registry.EventDelete, Revision: t.Revision, Name: t.Name, Tombstone: t, Prev: prev}, true, nil
	}
	// Entry deletions travel with their tombstone put (same revision);
	// tombstone deletions (re-create, GC) and slots are not mailbox changes.
	return registry.Event{}, false, nil
}
