package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
)

// Registry is what an Adapter uses of a registry.Store: reads,
// single-entry writes and the watch.
type Registry interface {
	registry.Reader
	registry.Writer
	registry.Watcher
}

// Adapter is a mupdate.Backend on a registry.
type Adapter struct {
	Store Registry
	// Now stamps Mtime on writes; default time.Now.
	Now func() time.Time
	// MaxRetries bounds compare-and-set retries of one write under
	// contention on the same name (default 64).
	MaxRetries int
	// Logger receives an error for every stored entry left out of what
	// MUPDATE clients are sent (see unsafe); nil: slog.Default().
	Logger *slog.Logger
	// ReplicatedBackends accepts, as idempotent, the writes a replica
	// backend repeats after its primary (two backends replicating with
	// sync_client/sync_server under one servername, both in the murder):
	//   - a RESERVE of a name already held at the same server, on the same
	//     partition or on an empty one (the "host!" a primary's RENAME
	//     leaves), answers OK and leaves the entry as it is (still active,
	//     ACL kept) instead of NO "mailbox already exists" (other
	//     partition) or demoting it to reserved (same location);
	//   - a DELETE of a name that is absent but has a registry tombstone
	//     (it was deleted, by the primary) answers OK instead of NO
	//     "mailbox doesn't exist".
	// Off (the default), the rules are Cyrus 3.6.1's (mupdate.Apply).
	// docs/mupdate.md, "Replicated backends".
	ReplicatedBackends bool

	// rev is the highest revision of a mailbox change this adapter has
	// seen: its own writes, and every change its watches delivered.
	rev atomic.Int64
}

var _ mupdate.Backend = (*Adapter)(nil)

// New returns an Adapter on st.
func New(st Registry) *Adapter { return &Adapter{Store: st} }

// Live reports whether a registry entry exists for MUPDATE (entries of
// an imported backend database marked deleted do not).
func Live(e *registry.Entry) bool { return !e.Type.Has(mboxlist.FlagDeleted) }

// sendable reports whether a registry entry may be sent to MUPDATE clients
// (FIND, LIST, UPDATE): visible, and a name a real frontend survives
// (mboxlist.SafeForFrontends). The write paths refuse names Cyrus cannot
// hold; an entry stored before they did is left out, with an error log,
// so that it cannot crash every frontend. DELETE still removes it.
func (a *Adapter) sendable(e *registry.Entry) bool {
	if !Live(e) {
		return false
	}
	if mboxlist.SafeForFrontends(e.Name) {
		return true
	}
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	n := e.Name
	if len(n) > 80 {
		n = n[:80] + "..."
	}
	log.Error("bridge: a stored entry real Cyrus frontends cannot hold is not sent to MUPDATE clients; delete it", "name", n, "name_bytes", len(e.Name))
	return false
}

// ToMailbox converts a registry entry to the record MUPDATE carries.
func ToMailbox(e *registry.Entry) mupdate.Mailbox {
	m := mupdate.Mailbox{Name: e.Name, State: mupdate.Active, Location: e.Primary().String()}
	if e.Type.Has(mboxlist.FlagReserve) {
		m.State = mupdate.Reserved
	} else {
		m.ACL = e.ACL.TabString()
	}
	return m
}

// Lookup implements mupdate.Backend. A name the registry cannot hold
// (registry.ValidateName: empty, control bytes, bytes that are not ASCII,
// an empty hierarchy component) is not there: Cyrus's master answers FIND
// of any name its lookup fails on with `OK "Search completed"` and no
// record, so such a FIND is client input, not a registry failure.
func (a *Adapter) Lookup(ctx context.Context, name string) (mupdate.Mailbox, bool, error) {
	if registry.ValidateName(name) != nil {
		return mupdate.Mailbox{}, false, nil
	}
	e, err := a.Store.Get(ctx, name)
	if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrInvalid) {
		return mupdate.Mailbox{}, false, nil
	}
	if err != nil {
		return mupdate.Mailbox{}, false, err
	}
	if !a.sendable(&e) {
		return mupdate.Mailbox{}, false, nil
	}
	return ToMailbox(&e), true, nil
}

func (a *Adapter) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// ApplyMailbox writes the MUPDATE record m into e (a copy of the current
// entry, or a fresh one), as Cyrus's master keeps it: m's location becomes
// the preferred primary (registry.ParseLocation; the old primary is
// replaced, other locations stay), a reserved mailbox has no ACL, an
// active one m's ACL (mboxlist.ParseACLTab), and the fields MUPDATE does
// not carry (uniqueid, history) are kept. An imported tombstone becomes a
// live mailbox again. Mtime is set to now. The adapter's writes and a
// follower's copies of the old master's list both go through it; m must
// have passed CheckRequest (which refuses an ACL that does not parse).
func ApplyMailbox(e *registry.Entry, m mupdate.Mailbox, now time.Time) error {
	var acl mboxlist.ACL
	if m.State != mupdate.Reserved {
		var err error
		if acl, err = mboxlist.ParseACLTab(m.ACL); err != nil {
			return fmt.Errorf("bridge: %s %q: %w", m.State, m.Name, err)
		}
	}
	e.Name = m.Name
	e.Type &^= mboxlist.FlagDeleted // an imported tombstone replaced by a live mailbox
	e.Type |= mboxlist.FlagRemote
	loc := registry.ParseLocation(m.Location)
	locs := []registry.Location{loc}
	for i, l := range e.Locations {
		if i == 0 || l == loc {
			continue // the old primary is replaced (moved); no duplicates
		}
		locs = append(locs, l)
	}
	e.Locations = locs
	e.Normalize() // Server and Partition (present or not) from loc
	if m.State == mupdate.Reserved {
		e.Type |= mboxlist.FlagReserve
		e.ACL = mboxlist.ACL{}
	} else {
		e.Type &^= mboxlist.FlagReserve
		e.ACL = acl
	}
	e.Mtime = now.Unix()
	return nil
}

// Write implements mupdate.Backend: it reads the current entry, applies
// Cyrus's rules (mupdate.Apply) and writes the result with the registry's
// atomic create-if-absent, compare-and-set or delete-with-tombstone,
// retrying when another writer got in between.
func (a *Adapter) Write(ctx context.Context, req mupdate.Request) error {
	if err := CheckRequest(req); err != nil {
		return err
	}
	retries := a.MaxRetries
	if retries <= 0 {
		retries = 64
	}
	for i := range retries {
		err := a.writeOnce(ctx, req, i == 0)
		if err == nil || !retryable(err) {
			return mapErr(err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("bridge: %s %q: too much contention, gave up after %d attempts", req.Op, req.Name, retries)
}

// CheckRequest refuses a RESERVE, ACTIVATE or DEACTIVATE whose name,
// location or ACL real Cyrus cannot hold (mboxlist.Entry.Check): a
// frontend's mupdate slave would store it, or abort on it, on every
// resync. The refusal is a *mupdate.Error with Cyrus's words ("Invalid
// mailbox name", ...) wrapping mupdate.ErrInvalid and the
// *mboxlist.CheckError. DELETE is never refused here, so that a bad entry
// already stored can be removed.
func CheckRequest(req mupdate.Request) error {
	if req.Op == mupdate.OpDelete {
		return nil
	}
	loc := registry.ParseLocation(req.Location)
	e := mboxlist.Entry{Name: req.Name, Server: loc.Server, Partition: loc.Partition}
	if req.Op == mupdate.OpActivate {
		acl, err := mboxlist.ParseACLTab(req.ACL)
		if err != nil {
			// Cyrus would drop the identifier left without rights
			// (mailbox_acl_to_dlist); a refusal says so instead.
			return &mupdate.Error{Text: mboxlist.TextBadACL, Err: &invalidErr{fmt.Errorf("ACTIVATE %q: %w", req.Name, err)}}
		}
		e.ACL = acl
	}
	if err := e.Check(nil); err != nil {
		var ce *mboxlist.CheckError
		errors.As(err, &ce)
		return &mupdate.Error{Text: ce.Text, Err: &invalidErr{err}}
	}
	return nil
}

// invalidErr is a refusal of bad input: errors.Is finds both
// mupdate.ErrInvalid and mboxlist.ErrCyrusLimit, and its text says what.
type invalidErr struct{ err error }

func (e *invalidErr) Error() string { return e.err.Error() }
func (e *invalidErr) Unwrap() []error {
	return []error{mupdate.ErrInvalid, e.err}
}

type retryErr struct{ err error }

func (r retryErr) Error() string { return r.err.Error() }
func (r retryErr) Unwrap() error { return r.err }

func retryable(err error) bool {
	var r retryErr
	return errors.As(err, &r)
}

// absent is the first read of a RESERVE (see writeOnce).
func absent(_ context.Context, name string) (registry.Entry, error) {
	return registry.Entry{}, registry.E("get", name, registry.ErrNotFound)
}

// writeOnce makes one attempt. The first attempt may read the current
// entry with the store's cheaper, possibly stale read (registry.StaleReader:
// on etcd no quorum round), and a RESERVE's first attempt assumes the name
// absent; the write is a compare-and-set on what was read (or a
// create-if-absent), so a wrong first read only costs a retry, which reads
// with Get.
func (a *Adapter) writeOnce(ctx context.Context, req mupdate.Request, first bool) error {
	get, stale := a.Store.Get, false
	switch sr, ok := a.Store.(registry.StaleReader); {
	case first && req.Op == mupdate.OpReserve:
		// A RESERVE is nearly always of a new name: assume it absent and
		// let the registry's atomic create-if-absent check (ErrExists
		// sends it round again, reading with Get).
		get, stale = absent, true
	case first && ok:
		get, stale = sr.GetStale, true
	}
	cur, err := get(ctx, req.Name)
	present := err == nil
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return err
	}
	var curMb *mupdate.Mailbox
	if present && Live(&cur) {
		m := ToMailbox(&cur)
		curMb = &m
	}
	if a.ReplicatedBackends {
		if ok, err := a.replicaRepeat(ctx, curMb, req, stale); ok || err != nil {
			return err
		}
	}
	next, err := mupdate.Apply(curMb, req)
	if err != nil {
		if stale {
			// a refusal is only given on what Get reads
			return retryErr{err}
		}
		return err
	}
	switch {
	case next == nil: // DELETE
		ts, err := a.Store.Delete(ctx, req.Name, cur.Revision)
		if errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrNotFound) {
			return retryErr{err}
		}
		if err == nil {
			a.saw(ts.Revision)
		}
		return err
	case !present:
		e := registry.Entry{}
		if err := ApplyMailbox(&e, *next, a.now()); err != nil {
			return err
		}
		got, err := a.Store.Create(ctx, e)
		if errors.Is(err, registry.ErrExists) {
			return retryErr{err}
		}
		if err == nil {
			a.saw(got.Revision)
		}
		return err
	default:
		e := cur
		e.ACL = nil
		e.Locations = append([]registry.Location(nil), cur.Locations...)
		if len(e.Locations) == 0 {
			e.Normalize()
		}
		if err := ApplyMailbox(&e, *next, a.now()); err != nil {
			return err
		}
		got, err := a.Store.Update(ctx, e)
		if errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrNotFound) {
			return retryErr{err}
		}
		if err == nil {
			a.saw(got.Revision)
		}
		return err
	}
}

// replicaRepeat reports whether req is a replica's repeat of what its
// primary already wrote (see ReplicatedBackends), to be answered OK with
// nothing written. It only says so on a fresh read: on a stale one it
// asks for a retry (which reads with Get).
func (a *Adapter) replicaRepeat(ctx context.Context, cur *mupdate.Mailbox, req mupdate.Request, stale bool) (bool, error) {
	switch {
	case req.Op == mupdate.OpReserve && cur != nil:
		held, want := registry.ParseLocation(cur.Location), registry.ParseLocation(req.Location)
		if held.Server == "" || !strings.Contains(cur.Location, "!") || held.Server != want.Server || (held.Partition != want.Partition && held.Partition != "") {
			return false, nil
		}
	case req.Op == mupdate.OpDelete && cur == nil:
		if _, err := a.Store.GetTombstone(ctx, req.Name); errors.Is(err, registry.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	default:
		return false, nil
	}
	if stale {
		return false, retryErr{errors.New("stale read")}
	}
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Info("bridge: replica repeat accepted (replicated-backends)", "op", req.Op.String(), "name", req.Name, "location", req.Location)
	return true, nil
}

// mapErr turns registry refusals of bad input into MUPDATE NO answers;
// mupdate.Error values pass through; anything else (unavailable) stays an
// error the server reports as a server failure.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var me *mupdate.Error
	if errors.As(err, &me) {
		return err
	}
	if errors.Is(err, registry.ErrInvalid) {
		return &mupdate.Error{Text: "invalid mailbox name or location", Err: mupdate.ErrInvalid}
	}
	return err
}

// saw records a revision of a mailbox change.
func (a *Adapter) saw(r int64) {
	for {
		cur := a.rev.Load()
		if r <= cur || a.rev.CompareAndSwap(cur, r) {
			return
		}
	}
}

// Revision implements mupdate.Backend: the revision of the latest mailbox
// change this adapter knows of (its own writes and what its watches
// delivered), not the registry's revision, which also counts writes that
// are not mailbox changes (slots) and, on a shared etcd, other keys.
// A streaming NOOP waits for the feed to reach this revision; with the
// registry's revision it would wait for changes that never come (up to
// the server's NoopWait) after every slot write. Read-your-writes holds
// for every write made through this adapter: its revision is known as
// soon as the write returns.
//
// On a store that can confirm its watches' progress (every backend: etcd,
// shared by several bridges, and leveldb, which follow mode, mboxconv and
// the HTTP API also write), the answer is instead the registry's current
// revision, and every watch is asked to confirm it: a change written by
// another bridge or another path before the NOOP then reaches this
// bridge's frontends before the NOOP's OK (read-your-writes), and
// revisions without a mailbox change are covered by the confirmation
// rather than waited for.
func (a *Adapter) Revision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	own := a.rev.Load()
	pr, ok := a.Store.(registry.ProgressRequester)
	if !ok {
		return own, nil
	}
	r, err := pr.RequestProgress(ctx)
	if err != nil {
		return own, nil // the registry is unreachable: what this bridge knows
	}
	return max(r, own), nil
}

// Snapshot implements mupdate.Backend with the registry's consistent
// listing (List from one snapshot, in Cyrus order). The listing starts at
// once, so the view is the registry as of this call (later writes are not
// in it), and is streamed to Range through a small buffer, so memory stays
// flat however large the registry is and writers are never held up.
//
// The registry tells a listing's revision only at its end, but the server
// needs it before the dump to start its watch. Snapshot reads the
// registry's revision before and after the listing has taken its view
// (its first entry has arrived); when the two agree, that is the view's
// revision exactly. When a write came in between, it retries (three times),
// then settles for the earlier revision: never newer than the view, so a
// Watch from it misses nothing and may repeat a change the view already
// shows, which MUPDATE clients apply idempotently (Cyrus's own master
// repeats updates).
func (a *Adapter) Snapshot(ctx context.Context) (mupdate.Snapshot, error) {
	for attempt := 0; ; attempt++ {
		rev0, err := a.Store.Revision(ctx)
		if err != nil {
			return nil, err
		}
		s := a.startListing(ctx)
		select {
		case m, ok := <-s.items:
			if ok {
				s.first = &m
			} else {
				// the listing ended before a first entry: empty, or failed
				s.finished = true
			}
		case <-ctx.Done():
			s.Close()
			return nil, ctx.Err()
		}
		if s.finished {
			if s.err != nil {
				return nil, s.err
			}
			s.rev = s.listRev
			return s, nil
		}
		rev1, err := a.Store.Revision(ctx)
		if err != nil {
			s.Close()
			return nil, err
		}
		if rev1 == rev0 || attempt >= 3 {
			s.rev = rev0
			return s, nil
		}
		s.Close()
	}
}

// snapshotBuffer is how many entries the listing reads ahead of Range.
const snapshotBuffer = 1024

type snapshot struct {
	rev int64

	items    chan mupdate.Mailbox // closed when the listing ends
	first    *mupdate.Mailbox
	cancel   context.CancelFunc
	done     chan struct{} // closed after err and listRev are set
	err      error
	listRev  int64
	finished bool

	mu     sync.Mutex
	ranged bool
	closed bool
}

func (a *Adapter) startListing(ctx context.Context) *snapshot {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &snapshot{items: make(chan mupdate.Mailbox, snapshotBuffer), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.items)
		s.listRev, s.err = a.Store.List(lctx, "", func(e registry.Entry) error {
			if !a.sendable(&e) {
				return nil
			}
			select {
			case s.items <- ToMailbox(&e):
				return nil
			case <-lctx.Done():
				return lctx.Err()
			}
		})
	}()
	return s
}

func (s *snapshot) Revision() int64 { return s.rev }

// Range streams the view in Cyrus order. A snapshot can be ranged once.
func (s *snapshot) Range(ctx context.Context, fn func(mupdate.Mailbox) error) error {
	s.mu.Lock()
	if s.closed || s.ranged {
		s.mu.Unlock()
		return errors.New("bridge: snapshot closed or already ranged")
	}
	s.ranged = true
	s.mu.Unlock()
	if s.first != nil {
		if err := fn(*s.first); err != nil {
			s.cancel()
			return err
		}
	}
	for {
		select {
		case m, ok := <-s.items:
			if !ok {
				<-s.done
				return s.err
			}
			if err := fn(m); err != nil {
				s.cancel()
				return err
			}
		case <-ctx.Done():
			s.cancel()
			return ctx.Err()
		}
	}
}

// Close ends the listing (if still running) and releases the view.
func (s *snapshot) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	return nil
}

// Watch implements mupdate.Backend on the registry's change feed. Prev is
// the former record as the registry's event gives it (registry.Event.Prev:
// etcd always; leveldb for its recent revisions), nil when unknown — see
// docs/interop.md on PARTIAL-UPDATE.
func (a *Adapter) Watch(ctx context.Context, after int64, fn func(mupdate.Change) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ev := range a.Store.Watch(ctx, after) {
		if ev.Err != nil {
			if errors.Is(ev.Err, registry.ErrCompacted) {
				return fmt.Errorf("%w: %w", mupdate.ErrCompacted, ev.Err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return ev.Err
		}
		if ev.Type == registry.EventProgress {
			// No change: the feed has delivered everything up to here
			// (what a streaming NOOP waits for; see Revision).
			if err := fn(mupdate.Change{Revision: ev.Revision}); err != nil {
				return err
			}
			continue
		}
		a.saw(ev.Revision)
		if !mboxlist.SafeForFrontends(ev.Name) {
			// Not even a DELETE of such a name may reach a frontend (its
			// slave locks the owner's namespace for that too): the change
			// is passed on as progress only.
			if ev.Type == registry.EventPut {
				a.sendable(&ev.Entry) // logs it
			}
			if err := fn(mupdate.Change{Revision: ev.Revision}); err != nil {
				return err
			}
			continue
		}
		ch := mupdate.Change{Revision: ev.Revision, Name: ev.Name}
		if ev.Prev != nil && a.sendable(ev.Prev) {
			p := ToMailbox(ev.Prev)
			ch.Prev = &p
		}
		if ev.Type == registry.EventPut && a.sendable(&ev.Entry) {
			m := ToMailbox(&ev.Entry)
			ch.Cur = &m
		}
		if err := fn(ch); err != nil {
			return err
		}
	}
	return ctx.Err()
}
