package memory

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
)

// Options tune a Backend; nil means defaults.
type Options struct {
	History     int // changes kept for watches from an older revision (default 65536)
	WatchBuffer int // changes a watcher may have pending before it is ended with ErrLagged (default 65536)
}

// Backend is the in-memory store. The zero value is not usable; call New.
type Backend struct {
	mu       sync.Mutex
	m        map[string]*mupdate.Mailbox
	rev      int64
	history  []mupdate.Change // ring, oldest at histHead
	histHead int
	histMax  int
	watchers map[*watcher]struct{}
	wbuf     int

	sorted    []*mupdate.Mailbox // immutable once published
	sortedRev int64
}

// watcher holds the changes not yet taken by its Watch loop; memory grows
// only with the actual backlog (idle watchers cost a few bytes).
type watcher struct {
	pending []mupdate.Change // guarded by Backend.mu
	lagged  bool             // set under Backend.mu when pending overflowed
	notify  chan struct{}    // cap 1
}

var _ mupdate.Backend = (*Backend)(nil)

// New returns an empty Backend.
func New(opts *Options) *Backend {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.History <= 0 {
		o.History = 1 << 16
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 1 << 16
	}
	return &Backend{
		m:         map[string]*mupdate.Mailbox{},
		histMax:   o.History,
		watchers:  map[*watcher]struct{}{},
		wbuf:      o.WatchBuffer,
		sortedRev: -1,
	}
}

// Load stores mailboxes as they are (no conflict rules), each as one
// change; for pre-loading tests.
func (b *Backend) Load(mbs ...mupdate.Mailbox) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range mbs {
		m := m
		if m.State == mupdate.Reserved {
			m.ACL = ""
		}
		b.commitLocked(m.Name, &m)
	}
}

// Len returns the number of mailboxes.
func (b *Backend) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// Lookup implements mupdate.Backend.
func (b *Backend) Lookup(ctx context.Context, name string) (mupdate.Mailbox, bool, error) {
	if err := ctx.Err(); err != nil {
		return mupdate.Mailbox{}, false, err
	}
	b.mu.Lock()
	p := b.m[name]
	b.mu.Unlock()
	if p == nil {
		return mupdate.Mailbox{}, false, nil
	}
	return *p, true, nil
}

// Write implements mupdate.Backend.
func (b *Backend) Write(ctx context.Context, req mupdate.Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	next, err := mupdate.Apply(b.m[req.Name], req)
	if err != nil {
		return err
	}
	b.commitLocked(req.Name, next)
	return nil
}

func (b *Backend) commitLocked(name string, next *mupdate.Mailbox) {
	b.rev++
	ch := mupdate.Change{Revision: b.rev, Name: name, Prev: b.m[name], Cur: next}
	if next == nil {
		delete(b.m, name)
	} else {
		b.m[name] = next
	}
	if len(b.history) < b.histMax {
		b.history = append(b.history, ch)
	} else {
		b.history[b.histHead] = ch
		b.histHead = (b.histHead + 1) % b.histMax
	}
	for w := range b.watchers {
		if len(w.pending) >= b.wbuf {
			w.lagged = true
			w.pending = nil
			delete(b.watchers, w)
		} else {
			w.pending = append(w.pending, ch)
		}
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
}

// Revision implements mupdate.Backend.
func (b *Backend) Revision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rev, nil
}

// Snapshot implements mupdate.Backend.
func (b *Backend) Snapshot(ctx context.Context) (mupdate.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	rev := b.rev
	if b.sortedRev == rev {
		s := b.sorted
		b.mu.Unlock()
		return &snapshot{rev: rev, list: s}, nil
	}
	type keyed struct {
		key string
		p   *mupdate.Mailbox
	}
	ks := make([]keyed, 0, len(b.m))
	for _, p := range b.m {
		ks = append(ks, keyed{p: p})
	}
	b.mu.Unlock()
	// Sort outside the mutex (writers are not stalled), on precomputed
	// mailboxes.db keys (mboxlist.MapDBName), which compare as plain strings.
	for i := range ks {
		ks[i].key = mboxlist.MapDBName(ks[i].p.Name)
	}
	slices.SortFunc(ks, func(x, y keyed) int { return strings.Compare(x.key, y.key) })
	list := make([]*mupdate.Mailbox, len(ks))
	for i := range ks {
		list[i] = ks[i].p
	}
	b.mu.Lock()
	if b.rev == rev {
		b.sorted, b.sortedRev = list, rev
	}
	b.mu.Unlock()
	return &snapshot{rev: rev, list: list}, nil
}

type snapshot struct {
	rev  int64
	list []*mupdate.Mailbox
}

func (s *snapshot) Revision() int64 { return s.rev }
func (s *snapshot) Close() error    { return nil }

func (s *snapshot) Range(ctx context.Context, fn func(mupdate.Mailbox) error) error {
	for i, p := range s.list {
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(*p); err != nil {
			return err
		}
	}
	return nil
}

// Watch implements mupdate.Backend.
func (b *Backend) Watch(ctx context.Context, after int64, fn func(mupdate.Change) error) error {
	b.mu.Lock()
	// Changes with Revision > after must come from history.
	var replay []mupdate.Change
	if after < b.rev {
		n := len(b.history)
		oldest := b.rev - int64(n) + 1 // revision of the oldest kept change
		if after+1 < oldest {
			b.mu.Unlock()
			return mupdate.ErrCompacted
		}
		skip := int(after + 1 - oldest)
		for i := skip; i < n; i++ {
			replay = append(replay, b.history[(b.histHead+i)%n])
		}
	}
	w := &watcher{notify: make(chan struct{}, 1)}
	b.watchers[w] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.watchers, w)
		b.mu.Unlock()
	}()
	for _, c := range replay {
		if err := fn(c); err != nil {
			return err
		}
	}
	var batch []mupdate.Change
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.notify:
		}
		b.mu.Lock()
		batch, w.pending = w.pending, batch[:0]
		lagged := w.lagged
		b.mu.Unlock()
		if lagged {
			return mupdate.ErrLagged
		}
		for i := range batch {
			if err := fn(batch[i]); err != nil {
				return err
			}
			batch[i] = mupdate.Change{}
		}
	}
}
