package mupdate

import (
	"context"
	"errors"
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
)

// State is the state of a mailbox on a MUPDATE master.
type State uint8

const (
	// Reserved: a backend has RESERVEd the name (a CREATE or RENAME in
	// progress, or an XFER after DEACTIVATE). Reserved entries carry no ACL.
	Reserved State = 1
	// Active: the mailbox exists at its location and is visible.
	Active State = 2
)

func (s State) String() string {
	switch s {
	case Reserved:
		return "reserved"
	case Active:
		return "active"
	}
	return "invalid"
}

// Mailbox is one record of the master's list, exactly as MUPDATE carries it.
type Mailbox struct {
	// Name is the Cyrus internal name (user.alice.Sent, example.com!user.bob,
	// DELETED.user.x.6B0267B0); it is never normalised.
	Name  string
	State State
	// Location is `server!partition` stored verbatim: an empty partition
	// (`host!`), no `!` at all and `host:port` servers all occur.
	Location string
	// ACL is Cyrus's internal ACL string (`id TAB rights TAB`...); always
	// empty for a Reserved mailbox.
	ACL string
}

// Server returns the server part of the location: the text before the
// first '!', or the whole location when it has none (as Cyrus's master
// splits it).
func (m Mailbox) Server() string { return ServerOf(m.Location) }

// ServerOf returns the server part of a location (text before the first '!').
func ServerOf(location string) string {
	if i := strings.IndexByte(location, '!'); i >= 0 {
		return location[:i]
	}
	return location
}

// Op is a write command.
type Op uint8

const (
	OpReserve    Op = 1
	OpActivate   Op = 2
	OpDeactivate Op = 3
	OpDelete     Op = 4
)

func (o Op) String() string {
	switch o {
	case OpReserve:
		return "RESERVE"
	case OpActivate:
		return "ACTIVATE"
	case OpDeactivate:
		return "DEACTIVATE"
	case OpDelete:
		return "DELETE"
	}
	return "INVALID"
}

// Request is one write as a client sends it. Location is unused for
// OpDelete, ACL is used only by OpActivate.
type Request struct {
	Op       Op
	Name     string
	Location string
	ACL      string
}

// Error is a protocol-visible refusal: the server answers `tag NO "Text"`.
type Error struct {
	Text string
	Err  error // one of the sentinels below, for errors.Is
}

func (e *Error) Error() string { return "mupdate: " + e.Text }
func (e *Error) Unwrap() error { return e.Err }

// Sentinels for the refusals of Cyrus's master (texts as Cyrus words them).
var (
	ErrExists    = errors.New("mupdate: mailbox already exists")
	ErrNotActive = errors.New("mupdate: mailbox not currently active")
	ErrNotExist  = errors.New("mupdate: mailbox doesn't exist")
	// ErrInvalid reports a malformed Request (unknown Op, empty name).
	ErrInvalid = errors.New("mupdate: invalid request")
)

// NO texts, exactly as Cyrus 3.6.1's master prints them.
const (
	TextExists    = "mailbox already exists"
	TextNotActive = "mailbox not currently active"
	TextNotExist  = "mailbox doesn't exist"
)

func refuse(sentinel error, text string) error { return &Error{Text: text, Err: sentinel} }

// Apply implements the conflict rules of Cyrus 3.6.1's master
// (`mupdate_config: standard`): given the current record (nil when absent)
// and a request, it returns the new record (nil means "delete it") or an
// *Error for the client's NO. Every Backend applies it atomically.
//
//	RESERVE n L     absent → reserved at L; same location (reserved or active)
//	                → reserved at L, ACL dropped; other location → NO exists
//	ACTIVATE n L A  always → active at L with ACL A (an upsert that may move)
//	DEACTIVATE n L  active → reserved at L, ACL dropped; otherwise NO "mailbox
//	                not currently active" (Cyrus crashes when absent, and when
//	                reserved at the same L; we refuse instead)
//	DELETE n        present → removed; absent → NO "mailbox doesn't exist"
//	                (Cyrus crashes)
func Apply(cur *Mailbox, req Request) (*Mailbox, error) {
	if req.Name == "" {
		return nil, &Error{Text: "empty mailbox name", Err: ErrInvalid}
	}
	switch req.Op {
	case OpReserve:
		if cur != nil && cur.Location != req.Location {
			return nil, refuse(ErrExists, TextExists)
		}
		return &Mailbox{Name: req.Name, State: Reserved, Location: req.Location}, nil
	case OpActivate:
		return &Mailbox{Name: req.Name, State: Active, Location: req.Location, ACL: req.ACL}, nil
	case OpDeactivate:
		if cur == nil || cur.State != Active {
			return nil, refuse(ErrNotActive, TextNotActive)
		}
		return &Mailbox{Name: req.Name, State: Reserved, Location: req.Location}, nil
	case OpDelete:
		if cur == nil {
			return nil, refuse(ErrNotExist, TextNotExist)
		}
		return nil, nil
	}
	return nil, &Error{Text: "unknown operation", Err: ErrInvalid}
}

// Change is one committed change, as a Backend's watch delivers it.
//
// A Change with an empty Name is a progress mark: every change up to
// Revision has been delivered. Backends whose revisions also count writes
// that are not mailbox changes should send progress marks, so that a
// streaming NOOP can tell it has seen everything (see Backend.Revision).
type Change struct {
	Revision int64
	Name     string
	Prev     *Mailbox // nil: the mailbox did not exist before
	Cur      *Mailbox // nil: the mailbox was deleted
}

// Backend stores a master's list. It is deliberately small; every method
// takes a context first and must be safe for concurrent use.
//
// Revisions are positive, strictly increasing numbers a Backend assigns to
// its committed changes (they need not be dense).
type Backend interface {
	// Lookup returns the record for name; ok is false when there is none.
	Lookup(ctx context.Context, name string) (m Mailbox, ok bool, err error)

	// Write applies req under the rules of Apply, atomically with respect
	// to other writes of the same name, and durably before it returns. A
	// refusal is returned as the *Error from Apply (the client gets NO).
	// Writes that change nothing (for example the same ACTIVATE twice)
	// still succeed and may or may not produce a Change.
	Write(ctx context.Context, req Request) error

	// Snapshot returns a consistent, point-in-time view of the whole list.
	// It must not stall writers while it is open or being read, however
	// long the reader takes. The caller must Close it.
	Snapshot(ctx context.Context) (Snapshot, error)

	// Watch calls fn, in revision order, for every change committed after
	// revision `after`, until ctx is cancelled (it then returns ctx.Err()),
	// fn returns an error (returned as is), or the backend cannot continue
	// (for example ErrCompacted when `after` is too old, or ErrLagged when
	// the caller fell too far behind). fn must not block for long: a
	// backend may end a watch whose consumer does not keep up, but must
	// never make writers wait for it.
	Watch(ctx context.Context, after int64, fn func(Change) error) error

	// Revision returns the revision of the latest committed change.
	Revision(ctx context.Context) (int64, error)
}

// Snapshot is a consistent view of a Backend's list at one revision.
type Snapshot interface {
	// Revision is the revision the view reflects; a Watch from it delivers
	// exactly the changes the view does not contain.
	Revision() int64
	// Range calls fn for every mailbox, in CompareNames order (the order of
	// Cyrus's mailboxes.db), stopping at the first error fn returns.
	Range(ctx context.Context, fn func(Mailbox) error) error
	// Close releases the view. It is idempotent.
	Close() error
}

// Errors a Backend's Watch may end with.
var (
	ErrCompacted = errors.New("mupdate: watch revision has been compacted")
	ErrLagged    = errors.New("mupdate: watcher fell too far behind")
)

// CompareNames orders two internal names as Cyrus 3.6's mailboxes.db does
// (bytewise on mboxlist.MapDBName, without building it); Cyrus's master dumps LIST and UPDATE in this order
// (DELETED.* first, then shared, then user.*).
func CompareNames(a, b string) int {
	// Fast path without allocation: walk both names mapping bytes.
	ai, bi := mapper{s: a}, mapper{s: b}
	ai.init()
	bi.init()
	for {
		ca, oka := ai.next()
		cb, okb := bi.next()
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return -1
		case !okb:
			return 1
		case ca < cb:
			return -1
		case ca > cb:
			return 1
		}
	}
}

// mapper yields the bytes of mboxlist.MapDBName(s) without building it.
type mapper struct {
	s   string
	dom int // index of the domain '!', or -1
	pos int
}

func (m *mapper) init() { m.dom = strings.IndexByte(m.s, '!') }

func (m *mapper) next() (byte, bool) {
	if m.pos >= len(m.s) {
		return 0, false
	}
	c := m.s[m.pos]
	i := m.pos
	m.pos++
	if i == m.dom {
		return mboxlist.DBDomainSep, true
	}
	if m.dom >= 0 && i < m.dom {
		return c, true
	}
	return mboxlist.DBNameByte(c), true
}
