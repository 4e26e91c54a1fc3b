package cutover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/registry"
)

// ErrTryLater is the sentinel of a create refused because the old master
// cannot take it now (unreachable, or changes still queued for it).
var ErrTryLater = errors.New("cutover: old master busy, try later")

// Config configures a WriteThrough.
type Config struct {
	// Store holds the slots (ListSlots); the entries are written by the
	// wrapped backend.
	Store registry.SlotStore
	// Addr is the old mupdate master, HOST:PORT; User, Password and Mech
	// authenticate to it (Mech "": the strongest offered, as follow does).
	Addr, User, Password, Mech string
	// StartTLS upgrades the connection to the old master.
	StartTLS bool
	// QueueDir is the directory of the durable queue (a leveldb).
	QueueDir string
	// SlotTTL is how long the list of slots is cached (default 1 s).
	SlotTTL time.Duration
	// RetryInterval is the pause between attempts to reach the master while
	// changes are queued (default 2 s).
	RetryInterval time.Duration
	// Timeout bounds one command to the master (default 10 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Status is what the write-through reports.
type Status struct {
	Queued    int    `json:"queued"`    // changes waiting for the old master
	Sent      int64  `json:"sent"`      // changes the master accepted
	Rejected  int64  `json:"rejected"`  // changes the master refused with NO (logged)
	Refused   int64  `json:"refused"`   // creates refused with "try later"
	Connected bool   `json:"connected"` // a connection to the master is open
	LastError string `json:"last_error,omitempty"`
}

// WriteThrough sends the changes of cut-over slots to the old master.
type WriteThrough struct {
	cfg Config
	log *slog.Logger
	q   *Queue

	mu   sync.Mutex // serialises write-through (order) and owns c
	c    *mupdateclient.Client
	kick chan struct{}

	smu       sync.Mutex
	slots     []registry.Slot
	slotsRead time.Time

	stmu sync.Mutex
	st   Status
}

// New opens the queue and returns a WriteThrough; call Run beside the
// server (it drains the queue) and Close at the end.
func New(cfg Config) (*WriteThrough, error) {
	if cfg.Store == nil || cfg.Addr == "" || cfg.QueueDir == "" {
		return nil, errors.New("cutover: Store, Addr and QueueDir are required")
	}
	if cfg.SlotTTL <= 0 {
		cfg.SlotTTL = time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 2 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	q, err := OpenQueue(cfg.QueueDir)
	if err != nil {
		return nil, err
	}
	return &WriteThrough{cfg: cfg, log: log, q: q, kick: make(chan struct{}, 1)}, nil
}

// Close closes the master connection and the queue.
func (w *WriteThrough) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropLocked()
	return w.q.Close()
}

// Queued returns how many changes wait for the old master.
func (w *WriteThrough) Queued() int { return w.q.Len() }

// Status returns counters and the queue length.
func (w *WriteThrough) Status() Status {
	w.stmu.Lock()
	defer w.stmu.Unlock()
	s := w.st
	s.Queued = w.q.Len()
	return s
}

func (w *WriteThrough) count(f func(*Status)) {
	w.stmu.Lock()
	f(&w.st)
	w.stmu.Unlock()
}

// Wrap returns b with write-through for cut-over slots.
func (w *WriteThrough) Wrap(b mupdate.Backend) mupdate.Backend { return &backend{Backend: b, w: w} }

type backend struct {
	mupdate.Backend
	w *WriteThrough
}

// cutOver reports whether a write touches a slot in state cutover.
func (w *WriteThrough) cutOver(ctx context.Context, locs []registry.Location) (bool, error) {
	w.smu.Lock()
	defer w.smu.Unlock()
	if w.slots == nil || time.Since(w.slotsRead) > w.cfg.SlotTTL {
		s, err := w.cfg.Store.ListSlots(ctx)
		if err != nil {
			return false, err
		}
		if s == nil {
			s = []registry.Slot{}
		}
		w.slots, w.slotsRead = s, time.Now()
	}
	for _, l := range locs {
		if sl, ok := registry.SlotFor(w.slots, l); ok && sl.State == registry.SlotCutover {
			return true, nil
		}
	}
	return false, nil
}

func tryLater(why string) error {
	return &mupdate.Error{Text: why + "; try later", Err: ErrTryLater}
}

func (b *backend) Write(ctx context.Context, req mupdate.Request) error {
	w := b.w
	var locs []registry.Location
	if req.Op != mupdate.OpDelete {
		locs = append(locs, registry.ParseLocation(req.Location))
	}
	cur, exists, err := b.Backend.Lookup(ctx, req.Name)
	if err != nil {
		return err
	}
	if exists {
		locs = append(locs, registry.ParseLocation(cur.Location))
	}
	cut, err := w.cutOver(ctx, locs)
	if err != nil {
		return err
	}
	if !cut {
		return b.Backend.Write(ctx, req)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	create := !exists && (req.Op == mupdate.OpReserve || req.Op == mupdate.OpActivate) // ctl_mboxlist -m ACTIVATEs new names
	if n := w.q.Len(); n > 0 && (req.Op == mupdate.OpDelete || create) {
		// 3.6's delayed delete is DELETE then RESERVE DELETED.*: refusing
		// only the RESERVE would leave the registry without the mailbox
		// the backend keeps
		w.count(func(s *Status) { s.Refused++ })
		return tryLater(fmt.Sprintf("%d changes are still queued for the old mupdate master %s", n, w.cfg.Addr))
	}
	if req.Op == mupdate.OpReserve && !exists {
		if n := w.q.Len(); n > 0 {
			w.count(func(s *Status) { s.Refused++ })
			return tryLater(fmt.Sprintf("%d changes are still queued for the old mupdate master %s", n, w.cfg.Addr))
		}
		if err := w.sendLocked(ctx, req); err != nil {
			var se *mupdateclient.StatusError
			if errors.As(err, &se) {
				return &mupdate.Error{Text: se.Text, Err: se.Unwrap()}
			}
			w.count(func(s *Status) { s.Refused++ })
			return tryLater(fmt.Sprintf("the old mupdate master %s is unreachable", w.cfg.Addr))
		}
		if err := b.Backend.Write(ctx, req); err != nil {
			// undo the reservation on the master, best effort
			if uerr := w.sendLocked(ctx, mupdate.Request{Op: mupdate.OpDelete, Name: req.Name}); uerr != nil {
				w.log.Warn("cutover: could not undo a reservation on the old master", "name", req.Name, "err", uerr)
			}
			return err
		}
		return nil
	}
	if err := b.Backend.Write(ctx, req); err != nil {
		return err
	}
	if w.q.Len() == 0 {
		err := w.sendLocked(ctx, req)
		if err == nil {
			return nil
		}
		var se *mupdateclient.StatusError
		if errors.As(err, &se) {
			w.rejected(req, se)
			return nil
		}
	}
	if err := w.q.Push(req); err != nil {
		// the registry has the change; the master will miss it
		w.log.Error("cutover: queueing a change for the old master failed", "op", req.Op.String(), "name", req.Name, "err", err)
		return err
	}
	w.log.Info("cutover: change queued for the old master", "op", req.Op.String(), "name", req.Name, "queued", w.q.Len())
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return nil
}

func (w *WriteThrough) rejected(req mupdate.Request, se *mupdateclient.StatusError) {
	w.count(func(s *Status) { s.Rejected++; s.LastError = se.Error() })
	w.log.Warn("cutover: the old master refused a change", "op", req.Op.String(), "name", req.Name, "answer", se.Kind+" "+se.Text)
}

func (w *WriteThrough) dropLocked() {
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
	w.count(func(s *Status) { s.Connected = false })
}

// sendLocked sends one change to the master, connecting first if needed. A
// *mupdateclient.StatusError is the master's answer; any other error means
// the master was not reached (the connection is dropped).
func (w *WriteThrough) sendLocked(ctx context.Context, req mupdate.Request) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	if w.c == nil {
		c, err := mupdateclient.Dial(ctx, w.cfg.Addr, &mupdateclient.Options{StartTLS: w.cfg.StartTLS})
		if err != nil {
			w.count(func(s *Status) { s.LastError = err.Error() })
			return err
		}
		if err := c.Authenticate(ctx, w.cfg.User, w.cfg.Password, w.cfg.Mech); err != nil {
			c.Close()
			w.count(func(s *Status) { s.LastError = err.Error() })
			return fmt.Errorf("cutover: authenticating to %s: %v", w.cfg.Addr, err) // %v: not an answer to req
		}
		w.c = c
		w.count(func(s *Status) { s.Connected = true })
	}
	var err error
	switch req.Op {
	case mupdate.OpReserve:
		err = w.c.Reserve(ctx, req.Name, req.Location)
	case mupdate.OpActivate:
		err = w.c.Activate(ctx, req.Name, req.Location, req.ACL)
	case mupdate.OpDeactivate:
		err = w.c.Deactivate(ctx, req.Name, req.Location)
	case mupdate.OpDelete:
		err = w.c.Delete(ctx, req.Name)
	default:
		return fmt.Errorf("cutover: unknown op %d", req.Op)
	}
	var se *mupdateclient.StatusError
	if err != nil && !(errors.As(err, &se) && se.Kind == "NO") {
		w.dropLocked()
		w.count(func(s *Status) { s.LastError = err.Error() })
		return err
	}
	if err == nil {
		w.count(func(s *Status) { s.Sent++ })
	}
	return err
}

// Drain sends queued changes in order until the queue is empty (nil) or
// the master cannot be reached (the error).
func (w *WriteThrough) Drain(ctx context.Context) error {
	for {
		w.mu.Lock()
		seq, req, ok, err := w.q.Peek()
		if err != nil || !ok {
			w.mu.Unlock()
			return err
		}
		err = w.sendLocked(ctx, req)
		var se *mupdateclient.StatusError
		if errors.As(err, &se) {
			w.rejected(req, se)
			err = nil
		}
		if err == nil {
			err = w.q.Pop(seq)
		}
		n := w.q.Len()
		w.mu.Unlock()
		if err != nil {
			return err
		}
		if n == 0 {
			w.log.Info("cutover: queue for the old master drained")
		}
	}
}

// Run drains the queue whenever changes are queued, retrying every
// RetryInterval while the master is unreachable, until ctx ends.
func (w *WriteThrough) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.RetryInterval)
	defer t.Stop()
	for {
		if w.q.Len() > 0 {
			if err := w.Drain(ctx); err != nil && ctx.Err() == nil {
				w.log.Debug("cutover: old master unreachable, changes stay queued", "queued", w.q.Len(), "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		case <-t.C:
		}
	}
}
