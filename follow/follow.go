package follow

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/registry"
)

// Registry is what a Follower uses of a registry.Store.
type Registry interface {
	registry.Reader
	registry.Writer
	registry.Importer
	registry.SlotStore
}

// Config configures a Follower. Addr, User and Store are required.
type Config struct {
	// Addr is the old master, HOST:PORT.
	Addr string
	// User and Password authenticate (imapd.conf's mupdate_authname and
	// mupdate_password); the user must be in the master's admins.
	User, Password string
	// Mech forces a SASL mechanism ("PLAIN", "SCRAM-SHA-512"...); empty
	// picks the strongest the master offers.
	Mech string
	// StartTLS upgrades the connection before authenticating, with TLSConfig
	// (nil: verify the master's certificate for its host name).
	StartTLS  bool
	TLSConfig *tls.Config

	// Store receives the master's mailboxes (reads, writes, Import of the
	// initial UPDATE) and holds the slots.
	Store  Registry
	Logger *slog.Logger

	// NoopInterval is the time between lag-measuring NOOPs (default 5 s);
	// a NOOP unanswered after NoopTimeout (default 2×NoopInterval, at least
	// 10 s) drops the connection, as a Cyrus slave does.
	NoopInterval time.Duration
	NoopTimeout  time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 500 ms
	// and 30 s); it doubles after each failed attempt, with ±25 % jitter,
	// and is reset by a completed resync.
	MinBackoff, MaxBackoff time.Duration
	// SlotTTL is how long the list of slots is cached (default 5 s).
	SlotTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Status is what a Follower reports (the operator HTTP shows it).
type Status struct {
	Master    string    `json:"master"`
	Connected bool      `json:"connected"`
	Synced    bool      `json:"synced"` // the current connection's full list is in the registry
	LastRound time.Time `json:"last_round,omitzero"`
	// Lag is the age of the last completed NOOP round trip; -1 when none
	// has completed yet.
	Lag       time.Duration `json:"lag_ns"`
	Resyncs   int64         `json:"resyncs"`   // completed full resynchronisations
	Reconnect int64         `json:"reconnect"` // connection attempts that failed or dropped
	Applied   int64         `json:"applied"`   // registry writes made (puts + deletes)
	// Refused counts master entries not written because real Cyrus cannot
	// hold them (mboxlist.Entry.Check): stored, they would reach every
	// frontend following the bridge, which may abort on them.
	Refused   int64  `json:"refused"`
	LastError string `json:"last_error,omitempty"`
	// AuthRefused: the master refused the credentials at the last attempt
	// (LastError has its answer); retries are at the longest backoff.
	AuthRefused bool      `json:"auth_refused,omitempty"`
	LastSync    SyncStats `json:"last_sync"`
}

// ErrAuthRefused: the master answered NO (or BAD) to AUTHENTICATE: the user
// or password is wrong, or the user is not in the master's admins. Trying
// again with the same credentials cannot help.
var ErrAuthRefused = errors.New("the master refused murder's credentials: check --follow-user/--follow-password-file (mupdate_authname/mupdate_password), and that the user is in the master's admins")

// SyncStats counts what one resynchronisation did.
type SyncStats struct {
	Master    int `json:"master"`    // entries in the master's full list
	Created   int `json:"created"`   // absent from the registry before
	Updated   int `json:"updated"`   // present with other content
	Deleted   int `json:"deleted"`   // in the registry but gone from the master
	Unchanged int `json:"unchanged"` // equal: not rewritten
	Skipped   int `json:"skipped"`   // in a slot the bridge is authoritative for
	Refused   int `json:"refused"`   // not written: real Cyrus cannot hold them
}

// Follower mirrors one master. Create it with New and call Run.
type Follower struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	connected bool
	synced    bool
	lastRound time.Time
	resyncs   int64
	reconnect int64
	applied   int64
	refused   int64
	lastErr   string
	authNo    bool
	// wasConnected: the last session got past authentication
	wasConnected bool
	lastSync     SyncStats

	slotMu    sync.Mutex
	slots     []registry.Slot
	slotsRead time.Time
}

// New checks cfg and returns a Follower.
func New(cfg Config) (*Follower, error) {
	if cfg.Addr == "" {
		return nil, errors.New("follow: the master's HOST:PORT is required")
	}
	if cfg.User == "" {
		return nil, errors.New("follow: a user (mupdate_authname) is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("follow: a registry Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NoopInterval <= 0 {
		cfg.NoopInterval = 5 * time.Second
	}
	if cfg.NoopTimeout <= 0 {
		cfg.NoopTimeout = max(2*cfg.NoopInterval, 10*time.Second)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.SlotTTL <= 0 {
		cfg.SlotTTL = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Follower{cfg: cfg, log: cfg.Logger.With("master", cfg.Addr)}, nil
}

// Master returns the followed master's address.
func (f *Follower) Master() string { return f.cfg.Addr }

// Lag returns the age of the last completed NOOP round trip (ok false
// before the first one).
func (f *Follower) Lag() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastRound.IsZero() {
		return 0, false
	}
	return f.cfg.Now().Sub(f.lastRound), true
}

// Status returns a snapshot of the follower's state.
func (f *Follower) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Status{Master: f.cfg.Addr, Connected: f.connected, Synced: f.synced, LastRound: f.lastRound,
		Lag: -1, Resyncs: f.resyncs, Reconnect: f.reconnect, Applied: f.applied, Refused: f.refused, LastError: f.lastErr, AuthRefused: f.authNo, LastSync: f.lastSync}
	if !f.lastRound.IsZero() {
		s.Lag = f.cfg.Now().Sub(f.lastRound)
	}
	return s
}

// Run follows the master until ctx ends (it then returns nil). Connection
// failures are logged and retried with backoff; they never end Run.
func (f *Follower) Run(ctx context.Context) error {
	backoff := f.cfg.MinBackoff
	for ctx.Err() == nil {
		synced, err := f.session(ctx)
		if ctx.Err() != nil {
			break
		}
		authNo := errors.Is(err, ErrAuthRefused)
		f.mu.Lock()
		f.connected, f.synced = false, false
		f.reconnect++
		if err != nil {
			f.lastErr = err.Error()
		}
		f.authNo = authNo
		f.mu.Unlock()
		if synced {
			backoff = f.cfg.MinBackoff
		}
		if authNo {
			// the same credentials will be refused again: retry slowly
			backoff = f.cfg.MaxBackoff
		}
		d := jitter(backoff)
		switch {
		case authNo:
			f.log.Error("follow: the master refused murder's credentials: check --follow-user/--follow-password-file", "user", f.cfg.User, "err", err, "retry_in", d.Round(time.Millisecond))
		case f.connectedOnce(synced):
			f.log.Warn("follow: connection to the master lost; reconnecting", "err", err, "in", d.Round(time.Millisecond))
		default:
			f.log.Warn("follow: cannot reach the master; retrying", "err", err, "in", d.Round(time.Millisecond))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, f.cfg.MaxBackoff)
	}
	f.mu.Lock()
	f.connected, f.synced = false, false
	f.mu.Unlock()
	return nil
}

// connectedOnce reports whether the session that just ended had logged in
// (a lost connection) rather than failed to dial (an unreachable master),
// and clears the mark for the next one.
func (f *Follower) connectedOnce(synced bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	was := f.wasConnected || synced
	f.wasConnected = false
	return was
}

func jitter(d time.Duration) time.Duration {
	return d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
}

// session is one connection: dial, authenticate, UPDATE, resync, stream.
// synced reports whether the full list reached the registry.
func (f *Follower) session(ctx context.Context) (synced bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := mupdateclient.Dial(dctx, f.cfg.Addr, &mupdateclient.Options{StartTLS: f.cfg.StartTLS, TLSConfig: f.cfg.TLSConfig})
	if err != nil {
		cancel()
		return false, err
	}
	defer c.Close()
	if err := c.Authenticate(dctx, f.cfg.User, f.cfg.Password, f.cfg.Mech); err != nil {
		cancel()
		var se *mupdateclient.StatusError
		if errors.As(err, &se) {
			return false, fmt.Errorf("follow: authenticate as %q: the master answered %s %q: %w", f.cfg.User, se.Kind, se.Text, ErrAuthRefused)
		}
		return false, fmt.Errorf("follow: authenticate as %q: %w", f.cfg.User, err)
	}
	cancel()
	f.mu.Lock()
	f.connected = true
	f.wasConnected = true
	f.mu.Unlock()
	f.log.Info("follow: connected; receiving the full list", "user", f.cfg.User)

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var dump []mupdate.Mailbox
	sent := f.cfg.Now()
	noopErr := make(chan error, 1)
	err = c.Update(sctx, nil, func(ev mupdateclient.Event) error {
		switch ev.Type {
		case mupdateclient.EventMailbox:
			if ev.Initial {
				dump = append(dump, ev.Mailbox)
				return nil
			}
			return f.put(sctx, ev.Mailbox)
		case mupdateclient.EventDelete:
			return f.del(sctx, ev.Name)
		case mupdateclient.EventSynced:
			st, err := f.resync(sctx, dump)
			dump = nil
			if err != nil {
				return err
			}
			synced = true
			f.mu.Lock()
			f.synced = true
			f.resyncs++
			f.lastSync = st
			if sent.After(f.lastRound) {
				f.lastRound = sent // the registry holds the master's state as of the UPDATE
			}
			f.mu.Unlock()
			f.log.Info("follow: registry resynchronised with the master", "master_entries", st.Master,
				"created", st.Created, "updated", st.Updated, "deleted", st.Deleted, "unchanged", st.Unchanged, "skipped", st.Skipped, "refused", st.Refused)
			go f.noops(sctx, c, noopErr, stop)
		}
		return nil
	})
	select {
	case nerr := <-noopErr:
		if nerr != nil && ctx.Err() == nil {
			err = nerr
		}
	default:
	}
	if err == nil {
		err = errors.New("follow: update stream ended")
	}
	return synced, err
}

// findOnMaster asks the master for name's current record (FIND) on a
// connection of its own.
func (f *Follower) findOnMaster(ctx context.Context, name string) (mupdate.Mailbox, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := mupdateclient.Dial(ctx, f.cfg.Addr, &mupdateclient.Options{StartTLS: f.cfg.StartTLS, TLSConfig: f.cfg.TLSConfig})
	if err != nil {
		return mupdate.Mailbox{}, false, err
	}
	defer c.Close()
	if err := c.Authenticate(ctx, f.cfg.User, f.cfg.Password, f.cfg.Mech); err != nil {
		return mupdate.Mailbox{}, false, fmt.Errorf("authenticate as %q: %w", f.cfg.User, err)
	}
	m, ok, err := c.Find(ctx, name)
	if err == nil {
		c.Logout(ctx)
	}
	return m, ok, err
}

// noops measures lag: one NOOP every NoopInterval; when its OK arrives every
// change the master had when it read it has been applied (Update's callback
// runs before the reader reaches the OK).
func (f *Follower) noops(ctx context.Context, c *mupdateclient.Client, errc chan<- error, stop func()) {
	t := time.NewTicker(f.cfg.NoopInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := f.cfg.Now()
		nctx, cancel := context.WithTimeout(ctx, f.cfg.NoopTimeout)
		err := c.Noop(nctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			errc <- fmt.Errorf("follow: NOOP: %w", err)
			stop()
			c.Close()
			return
		}
		f.mu.Lock()
		if sent.After(f.lastRound) {
			f.lastRound = sent
		}
		f.mu.Unlock()
	}
}

// bridgeOwns reports whether the bridge, not the master, is authoritative
// for a location: it lies in a slot in state cutover or retired.
func (f *Follower) bridgeOwns(ctx context.Context, locs ...registry.Location) (bool, error) {
	f.slotMu.Lock()
	defer f.slotMu.Unlock()
	if f.slots == nil || f.cfg.Now().Sub(f.slotsRead) > f.cfg.SlotTTL {
		s, err := f.cfg.Store.ListSlots(ctx)
		if err != nil {
			return false, err
		}
		if s == nil {
			s = []registry.Slot{}
		}
		f.slots, f.slotsRead = s, f.cfg.Now()
	}
	for _, l := range locs {
		if sl, ok := registry.SlotFor(f.slots, l); ok && (sl.State == registry.SlotCutover || sl.State == registry.SlotRetired) {
			return true, nil
		}
	}
	return false, nil
}

// masterTakes reports whether the master's record m is applied over the
// registry's entry cur (nil: none). The master is authoritative unless the
// bridge owns the new location or the current one (a slot in cutover or
// retired), with one exception: a mailbox moved out of a bridge-owned slot
// to a location the master owns. Cyrus's XFER does that in two steps: the
// source backend (talking to the bridge) DEACTIVATEs the mailbox, which
// leaves it reserved at its old location (and is written through to the
// master), then the destination backend (talking to the master) ACTIVATEs
// it at its own location. So a reserved entry at a bridge-owned location is
// taken over by the master's active record at a location the bridge does
// not own; a live (active) entry there never is.
func (f *Follower) masterTakes(ctx context.Context, m mupdate.Mailbox, cur *registry.Entry) (bool, error) {
	if own, err := f.bridgeOwns(ctx, registry.ParseLocation(m.Location)); err != nil || own {
		return false, err
	}
	if cur == nil {
		return true, nil
	}
	own, err := f.bridgeOwns(ctx, cur.Primary())
	if err != nil || !own {
		return !own, err
	}
	moved := m.State == mupdate.Active && bridge.Live(cur) && cur.Type.Has(mboxlist.FlagReserve)
	if moved {
		f.log.Info("follow: a mailbox reserved in a cut-over slot is active on the master at a location outside it (moved by XFER): taken over",
			"name", m.Name, "from", cur.Primary().String(), "to", m.Location)
	}
	return moved, nil
}

// sameAs reports whether the registry entry already says what m says.
func sameAs(e *registry.Entry, m mupdate.Mailbox) bool {
	if !bridge.Live(e) {
		return false
	}
	got := bridge.ToMailbox(e)
	if got.State != m.State || got.Location != registry.ParseLocation(m.Location).String() {
		return false
	}
	if m.State == mupdate.Reserved {
		return true
	}
	acl, err := mboxlist.ParseACLTab(m.ACL)
	return err == nil && got.ACL == acl.TabString()
}

// fill writes the master's record m into e (a copy of the current entry or
// a fresh one): bridge.ApplyMailbox, the adapter's own rule.
func (f *Follower) fill(e *registry.Entry, m mupdate.Mailbox) error {
	return bridge.ApplyMailbox(e, m, f.cfg.Now())
}

// put makes the registry's entry for m.Name equal to m (no write when it
// already is): a live MAILBOX/RESERVE line.
func (f *Follower) put(ctx context.Context, m mupdate.Mailbox) error {
	if f.refuse(m) {
		return nil
	}
	wrote, _, err := f.putEntry(ctx, m, nil)
	if wrote {
		f.log.Debug("follow: applied", "name", m.Name, "state", m.State.String(), "location", m.Location)
	}
	return err
}

// refuse reports (and logs, and counts) a master entry whose name,
// location or ACL real Cyrus cannot hold: the follower skips it and goes
// on following, so that one bad entry on the old master neither stops the
// mirror nor reaches the frontends of the bridge.
func (f *Follower) refuse(m mupdate.Mailbox) bool {
	op := mupdate.OpActivate
	if m.State == mupdate.Reserved {
		op = mupdate.OpReserve
	}
	err := bridge.CheckRequest(mupdate.Request{Op: op, Name: m.Name, Location: m.Location, ACL: m.ACL})
	if err == nil {
		return false
	}
	name := m.Name
	if len(name) > 80 {
		name = name[:80] + "..."
	}
	f.log.Error("follow: skipped an entry of the master that real Cyrus cannot hold", "name", name, "name_bytes", len(m.Name), "err", errors.Unwrap(err))
	f.mu.Lock()
	f.refused++
	f.mu.Unlock()
	return true
}

const maxCAS = 64

// importBatch is the number of entries a resync writes per Import call.
const importBatch = 512

func (f *Follower) putEntry(ctx context.Context, m mupdate.Mailbox, cur *registry.Entry) (wrote, existed bool, err error) {
	for range maxCAS {
		var e registry.Entry
		if cur != nil {
			e = *cur
		} else {
			e, err = f.cfg.Store.Get(ctx, m.Name)
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				return false, false, err
			}
			if err != nil {
				e = registry.Entry{}
			}
		}
		cur = nil
		existed = e.Name != ""
		var cur *registry.Entry
		if existed {
			cur = &e
		}
		if take, err := f.masterTakes(ctx, m, cur); err != nil || !take {
			return false, existed, err
		}
		if existed && sameAs(&e, m) {
			return false, true, nil
		}
		if existed {
			e.Locations = append([]registry.Location(nil), e.Locations...)
			if len(e.Locations) == 0 {
				e.Normalize()
			}
			if err = f.fill(&e, m); err == nil {
				_, err = f.cfg.Store.Update(ctx, e)
			}
		} else {
			e = registry.Entry{}
			if err = f.fill(&e, m); err == nil {
				_, err = f.cfg.Store.Create(ctx, e)
			}
		}
		switch {
		case err == nil:
			f.mu.Lock()
			f.applied++
			f.mu.Unlock()
			return true, existed, nil
		case errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrExists):
			continue // someone else wrote in between: read again
		default:
			return false, existed, err
		}
	}
	return false, existed, fmt.Errorf("follow: %q: too much contention", m.Name)
}

// del removes name from the registry (leaving a tombstone); absent is fine.
func (f *Follower) del(ctx context.Context, name string) error {
	ok, err := f.delEntry(ctx, name, 0)
	if ok {
		f.log.Debug("follow: applied", "name", name, "state", "deleted")
	}
	return err
}

func (f *Follower) delEntry(ctx context.Context, name string, rev int64) (bool, error) {
	for range maxCAS {
		e, err := f.cfg.Store.Get(ctx, name)
		if errors.Is(err, registry.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if own, err := f.bridgeOwns(ctx, e.Primary()); err != nil || own {
			return false, err
		}
		_, err = f.cfg.Store.Delete(ctx, name, e.Revision)
		switch {
		case err == nil:
			f.mu.Lock()
			f.applied++
			f.mu.Unlock()
			return true, nil
		case errors.Is(err, registry.ErrNotFound):
			return false, nil
		case errors.Is(err, registry.ErrConflict):
			continue
		default:
			return false, err
		}
	}
	return false, fmt.Errorf("follow: delete %q: too much contention", name)
}

// resync makes the registry equal to the master's full list, rewriting only
// what differs. Both sides are walked by name; the registry's listing is
// read first (names and revisions only are kept).
func (f *Follower) resync(ctx context.Context, dump []mupdate.Mailbox) (SyncStats, error) {
	st := SyncStats{Master: len(dump)}
	// one pass over the registry marks each dump entry absent, equal or
	// different (memory: an index over the dump's own name strings and one
	// byte per entry; the full entry is read again only when it differs)
	const (
		absent uint8 = iota
		equal
		differs
	)
	inDump := make(map[string]int, len(dump))
	for i, m := range dump {
		inDump[m.Name] = i
	}
	mark := make([]uint8, len(dump))
	type gone struct {
		name string
		rev  int64
		loc  registry.Location
	}
	var vanished []gone
	_, err := f.cfg.Store.List(ctx, "", func(e registry.Entry) error {
		i, ok := inDump[e.Name]
		if !ok {
			if bridge.Live(&e) {
				vanished = append(vanished, gone{e.Name, e.Revision, e.Primary()})
			}
			return nil
		}
		if sameAs(&e, dump[i]) { // false for an entry marked deleted: it is revived
			mark[i] = equal
		} else {
			mark[i] = differs
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("follow: list the registry: %w", err)
	}
	inDump = nil
	// new and changed entries are written in batches with Import (one
	// atomic batch per call on leveldb, transactions on etcd): the master
	// is authoritative for them, so no compare-and-set is needed, and Import
	// itself leaves equal entries alone
	var batch []registry.Entry
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		is, err := f.cfg.Store.Import(ctx, batch)
		if err != nil {
			return fmt.Errorf("follow: write %d entries: %w", len(batch), err)
		}
		st.Created += is.Created
		st.Updated += is.Updated
		st.Unchanged += is.Unchanged
		f.mu.Lock()
		f.applied += int64(is.Created + is.Updated)
		f.mu.Unlock()
		batch = batch[:0]
		return nil
	}
	for i, m := range dump {
		if f.refuse(m) {
			st.Refused++
			continue
		}
		if mark[i] == equal {
			st.Unchanged++
			continue
		}
		var e registry.Entry
		ok := false
		if mark[i] == differs {
			var err error
			e, err = f.cfg.Store.Get(ctx, m.Name)
			ok = err == nil
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				return st, err
			}
			if ok && sameAs(&e, m) { // changed back meanwhile
				st.Unchanged++
				continue
			}
		}
		var cur *registry.Entry
		if ok {
			cur = &e
		}
		if take, err := f.masterTakes(ctx, m, cur); err != nil {
			return st, err
		} else if !take {
			st.Skipped++
			continue
		}
		if ok {
			e.Locations = append([]registry.Location(nil), e.Locations...)
			if len(e.Locations) == 0 {
				e.Normalize()
			}
		} else {
			e = registry.Entry{}
		}
		if err := f.fill(&e, m); err != nil {
			return st, err
		}
		e.Revision = 0
		batch = append(batch, e)
		if len(batch) >= importBatch {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	for _, g := range vanished {
		if own, err := f.bridgeOwns(ctx, g.loc); err != nil {
			return st, err
		} else if own {
			st.Skipped++
			continue
		}
		ok, err := f.delEntry(ctx, g.name, g.rev)
		if err != nil {
			return st, fmt.Errorf("follow: delete %q: %w", g.name, err)
		}
		if ok {
			st.Deleted++
		}
	}
	return st, nil
}
