package etcd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

func quietLogger() *zap.Logger { return zap.NewNop() }

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}

// keyRange returns the etcd key range [start, end) of a prefix range.
func (s *Store) keyRange(dir string, r registry.PrefixRange) (string, string) {
	base := s.p + dir
	if r.All {
		return base, prefixEnd(base)
	}
	return base + r.Start(), base + r.End()
}

const pageSize = 1000

// pages reads the keys of [start, end) in pages of at most pageSize, all at
// the revision of the first request, calling fn with each page, and
// returns that revision.
//
// etcd counts every key of a request's range, not only the ones a limit
// lets it return (etcd-io/etcd#11057, #16510), so plain paging through n
// keys costs O(n²): a million-entry list spent over two minutes counting.
// Each request therefore asks for a window of the range: from its first
// key up to the end of the keys that share that key's first depth bytes.
// depth adapts: deeper (narrower windows) when a window counted more than
// 64 pages of keys, at once to the prefix its page's keys share; shallower
// when a window held less than a quarter page.
func (s *Store) pages(ctx context.Context, start, end string, fn func(kvs []*mvccpb.KeyValue) error) (int64, error) {
	var rev int64
	pageSize := int64(pageSize)
	if s.pageSize > 0 {
		pageSize = s.pageSize
	}
	minDepth := commonPrefix(start, end)
	depth := minDepth
	for {
		wend := end
		if d := min(depth, len(start)); d > minDepth {
			if w := prefixEnd(start[:d]); w != "\x00" && (end == "\x00" || w < end) {
				wend = w
			}
		}
		o := []clientv3.OpOption{clientv3.WithRange(wend), clientv3.WithLimit(pageSize)}
		if rev != 0 {
			o = append(o, clientv3.WithRev(rev))
		}
		resp, err := s.getRetry(ctx, start, o...)
		if err != nil {
			return rev, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		s.counted.Add(resp.Count)
		if len(resp.Kvs) > 0 {
			if err := fn(resp.Kvs); err != nil {
				return rev, err
			}
		}
		if resp.More && len(resp.Kvs) > 0 {
			if resp.Count > 64*pageSize {
				first, last := string(resp.Kvs[0].Key), string(resp.Kvs[len(resp.Kvs)-1].Key)
				depth = min(max(depth+1, commonPrefix(first, last)), len(last))
			}
			start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
			continue
		}
		if wend == end {
			return rev, nil
		}
		if int64(len(resp.Kvs)) < pageSize/4 && depth > minDepth {
			depth--
		}
		start = wend
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// List implements registry.Store: pages of the range, all read at the
// revision of the first page.
func (s *Store) List(ctx context.Context, prefix string, fn func(registry.Entry) error) (int64, error) {
	if err := s.check(ctx, "list", prefix); err != nil {
		return 0, err
	}
	r, err := registry.Prefix(prefix)
	if err != nil {
		return 0, registry.E("list", prefix, err)
	}
	start, end := s.keyRange(dirEntry, r)
	base := s.p + dirEntry
	var ferr error // fn's own error or a corrupt entry, returned as it is
	rev, err := s.pages(ctx, start, end, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			db := strings.TrimPrefix(string(kv.Key), base)
			if !r.Match(db) {
				continue
			}
			e, err := decodeEntry(kv.Value, kv.Key)
			if err != nil {
				ferr = registry.E("list", prefix, err)
				return err
			}
			e.Revision = kv.ModRevision
			if err := fn(e); err != nil {
				ferr = err
				return err
			}
		}
		return nil
	})
	switch {
	case ferr != nil:
		return 0, ferr
	case err != nil:
		return 0, registry.E("list", prefix, wrap(err))
	}
	return rev, nil
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
	start, end := s.keyRange(dirEntry, r)
	resp, err := s.getRetry(ctx, start, clientv3.WithRange(end), clientv3.WithCountOnly())
	if err != nil {
		return 0, registry.E("count", prefix, wrap(err))
	}
	return int(resp.Count), nil
}

// Visible implements registry.Store: every index range the rules may need is
// read in one transaction (one consistent revision, one round trip).
func (s *Store) Visible(ctx context.Context, userid string, groups []string) ([]string, error) {
	if err := s.check(ctx, "visible", userid); err != nil {
		return nil, err
	}
	all, err := registry.VisiblePrefixes(userid, groups)
	if err != nil {
		return nil, registry.E("visible", userid, err)
	}
	// The "listable" rows of the user's own hierarchy are not stored
	// (see the key layout): the entries under it are read and kept when
	// registry.Listable.
	ops := make([]clientv3.Op, 0, len(all))
	for _, p := range all {
		if db, ok := strings.CutPrefix(p, registry.IndexListable); ok {
			ops = append(ops, clientv3.OpGet(s.ekey(db), clientv3.WithPrefix()))
			continue
		}
		ops = append(ops, clientv3.OpGet(s.xkey(p), clientv3.WithPrefix(), clientv3.WithKeysOnly()))
	}
	resp, err := s.txnReadRetry(ctx, ops...)
	if err != nil {
		return nil, registry.E("visible", userid, wrap(err))
	}
	// The own hierarchy's entries are judged by their own ACL: the
	// user's negative rows on them are not stored either, and a negative
	// `l` hides an own mailbox too (mboxlist.Entry.ListableBy).
	who := mboxlist.NewIdentity(userid, groups)
	got := map[string][]string{}
	for i, p := range all {
		db, listable := strings.CutPrefix(p, registry.IndexListable)
		for _, kv := range resp.Responses[i].GetResponseRange().Kvs {
			if !listable {
				got[p] = append(got[p], strings.TrimPrefix(string(kv.Key), s.xkey(p)))
				continue
			}
			rest := strings.TrimPrefix(string(kv.Key), s.ekey(db))
			e, err := registry.DecodeEntry(kv.Value, "etcd key "+strconv.Quote(string(kv.Key)))
			if err != nil {
				return nil, registry.E("visible", userid, err)
			}
			if registry.Listable(&e) && !e.ACL.Denies(who, 'l') {
				got[p] = append(got[p], rest)
			}
		}
	}
	scan := func(_ context.Context, p string, fn func(string) error) error {
		rows, ok := got[p]
		if !ok && !fetched(all, p) {
			return fmt.Errorf("registry: internal: index prefix %q was not read", p)
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	names, err := registry.VisibleRules(ctx, scan, userid, groups)
	if err != nil {
		return nil, registry.E("visible", userid, err)
	}
	return names, nil
}

func fetched(all []string, p string) bool {
	for _, a := range all {
		if a == p {
			return true
		}
	}
	return false
}

// Revision implements registry.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.check(ctx, "revision", ""); err != nil {
		return 0, err
	}
	resp, err := s.getRetry(ctx, s.p+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, registry.E("revision", "", wrap(err))
	}
	return resp.Header.Revision, nil
}

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

// newWatchSync is how long after creating a watch its progress
// notifications are not trusted: etcd syncs a watch that starts behind
// its revision on a 100 ms loop (watchResyncPeriod).
const newWatchSync = 150 * time.Millisecond

// askProgressAgain is how long a watch whose progress notification fell
// short of the wanted revision waits before asking etcd again.
const askProgressAgain = 5 * time.Millisecond

// progressUnanswered is how often a watch asks etcd again while a revision
// a RequestProgress promised is unconfirmed: etcd ignores a progress request
// while one of the stream's watches is behind (syncing), and says nothing.
const progressUnanswered = 50 * time.Millisecond

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

// decodeEntry decodes a stored entry; the key is quoted only for an error.
func decodeEntry(v, key []byte) (registry.Entry, error) {
	e, err := registry.DecodeEntry(v, "")
	if err != nil {
		_, err = registry.DecodeEntry(v, "etcd key "+strconv.Quote(string(key)))
	}
	return e, err
}

// prevEntry decodes the previous value of an entry key (nil: none).
func prevEntry(kv *mvccpb.KeyValue) (*registry.Entry, error) {
	if kv == nil || len(kv.Value) == 0 {
		return nil, nil
	}
	e, err := decodeEntry(kv.Value, kv.Key)
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
		e, err := decodeEntry(ev.Kv.Value, ev.Kv.Key)
		if err != nil {
			return registry.Event{}, false, err
		}
		e.Revision = ev.Kv.ModRevision
		prev, err := prevEntry(ev.PrevKv)
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
		prev, err := prevEntry(deleted[key[len(s.p+dirTomb):]])
		if err != nil {
			return registry.Event{}, false, err
		}
		return registry.Event{Type: registry.EventDelete, Revision: t.Revision, Name: t.Name, Tombstone: t, Prev: prev}, true, nil
	}
	// Entry deletions travel with their tombstone put (same revision);
	// tombstone deletions (re-create, GC) and slots are not mailbox changes.
	return registry.Event{}, false, nil
}

// GCTombstones implements registry.Store.
func (s *Store) GCTombstones(ctx context.Context, cutoff time.Time) (int, error) {
	if err := s.check(ctx, "gc", ""); err != nil {
		return 0, err
	}
	start, end := s.p+dirTomb, prefixEnd(s.p+dirTomb)
	n := 0
	for {
		resp, err := s.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(pageSize))
		if err != nil {
			return n, registry.E("gc", "", wrap(err))
		}
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			r, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
			if err != nil {
				return wrap(err)
			}
			if r.Succeeded {
				n += len(ops)
			}
			cmps, ops = nil, nil
			return nil
		}
		for _, kv := range resp.Kvs {
			t, err := registry.DecodeTombstone(kv.Value, "etcd key "+strconv.Quote(string(kv.Key)))
			if err != nil {
				return n, registry.E("gc", "", err)
			}
			if !t.Time.Before(cutoff) {
				continue
			}
			// Only if unchanged since read (a re-delete writes a new one).
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision))
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
			if len(ops) == s.o.MaxTxnOps {
				if err := flush(); err != nil {
					return n, registry.E("gc", "", err)
				}
			}
		}
		if err := flush(); err != nil {
			return n, registry.E("gc", "", err)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return n, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Slots.

// GetSlot implements registry.Store.
func (s *Store) GetSlot(ctx context.Context, name string) (registry.Slot, error) {
	if err := s.check(ctx, "get-slot", name); err != nil {
		return registry.Slot{}, err
	}
	resp, err := s.getRetry(ctx, s.skey(name))
	if err != nil {
		return registry.Slot{}, registry.E("get-slot", name, wrap(err))
	}
	if len(resp.Kvs) == 0 {
		return registry.Slot{}, registry.E("get-slot", name, registry.ErrNotFound)
	}
	sl, err := registry.DecodeSlot(resp.Kvs[0].Value, "etcd key "+strconv.Quote(string(resp.Kvs[0].Key)))
	if err != nil {
		return registry.Slot{}, registry.E("get-slot", name, err)
	}
	sl.Revision = resp.Kvs[0].ModRevision
	return sl, nil
}

// ListSlots implements registry.Store, in name order.
func (s *Store) ListSlots(ctx context.Context) ([]registry.Slot, error) {
	if err := s.check(ctx, "list-slots", ""); err != nil {
		return nil, err
	}
	resp, err := s.getRetry(ctx, s.p+dirSlot, clientv3.WithPrefix())
	if err != nil {
		return nil, registry.E("list-slots", "", wrap(err))
	}
	var out []registry.Slot
	for _, kv := range resp.Kvs {
		sl, err := registry.DecodeSlot(kv.Value, "etcd key "+strconv.Quote(string(kv.Key)))
		if err != nil {
			return nil, registry.E("list-slots", "", err)
		}
		sl.Revision = kv.ModRevision
		out = append(out, sl)
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
	key := s.skey(sl.Name)
	want := sl.Revision
	if create {
		want = 0
	}
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", want)).
		Then(clientv3.OpPut(key, string(registry.EncodeSlot(&sl, false)))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return registry.Slot{}, registry.E(op, sl.Name, wrap(err))
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		switch {
		case create:
			return registry.Slot{}, registry.E(op, sl.Name, registry.ErrExists)
		case len(kvs) == 0:
			return registry.Slot{}, registry.E(op, sl.Name, registry.ErrNotFound)
		default:
			return registry.Slot{}, registry.E(op, sl.Name, fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, sl.Revision, kvs[0].ModRevision))
		}
	}
	sl.Revision = resp.Header.Revision
	return sl, nil
}

// CreateSlot implements registry.Store.
func (s *Store) CreateSlot(ctx context.Context, sl registry.Slot) (registry.Slot, error) {
	return s.writeSlot(ctx, "create-slot", sl, true)
}

// UpdateSlot implements registry.Store.
func (s *Store) UpdateSlot(ctx context.Context, sl registry.Slot) (registry.Slot, error) {
	if sl.Revision == 0 {
		return registry.Slot{}, registry.E("update-slot", sl.Name, fmt.Errorf("%w: no revision given", registry.ErrConflict))
	}
	return s.writeSlot(ctx, "update-slot", sl, false)
}

// DeleteSlot implements registry.Store.
func (s *Store) DeleteSlot(ctx context.Context, name string, rev int64) error {
	if err := s.check(ctx, "delete-slot", name); err != nil {
		return err
	}
	key := s.skey(name)
	cmp := clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	if rev != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", rev)
	}
	resp, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpDelete(key)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return registry.E("delete-slot", name, wrap(err))
	}
	if !resp.Succeeded {
		if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return registry.E("delete-slot", name, registry.ErrNotFound)
		}
		return registry.E("delete-slot", name, fmt.Errorf("%w: revision changed", registry.ErrConflict))
	}
	return nil
}

// watchBuffer is how many events a watch holds for a slow consumer (small:
// one watch per idle UPDATE client, ~344 bytes per event).
const watchBuffer = 16
