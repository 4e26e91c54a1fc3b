package registry

import (
	"context"
	"strings"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
)

// Location is where a mailbox lives: a server (a backend's servername, which
// may be host:port) and a partition on it.
type Location struct {
	Server    string
	Partition string
	// EmptyPartition: the partition is present but empty (MUPDATE location
	// "host!"), which Cyrus keeps apart from no partition ("host"): a 3.6+
	// master stores RENAME targets and DELETED.* names that way, and its
	// backends' `ctl_mboxlist -m` treat the two differently. It counts only
	// while Partition is "".
	EmptyPartition bool
}

// HasPartition reports whether the location has a partition (maybe empty).
func (l Location) HasPartition() bool { return l.Partition != "" || l.EmptyPartition }

// String renders the location as MUPDATE and Cyrus's master do:
// `server!partition` (so `server!` for an empty partition), `server` when
// there is no partition, `partition` alone when there is no server.
func (l Location) String() string {
	switch {
	case l.Server == "":
		return l.Partition
	case !l.HasPartition():
		return l.Server
	}
	return l.Server + "!" + l.Partition
}

// ParseLocation splits s at its first '!' as Cyrus's master does; text
// without '!' is a server without a partition, "host!" a server with an
// empty partition.
func ParseLocation(s string) Location {
	if i := strings.IndexByte(s, '!'); i >= 0 {
		return Location{Server: s[:i], Partition: s[i+1:], EmptyPartition: i == len(s)-1}
	}
	return Location{Server: s}
}

// Entry is one mailbox in the registry. The embedded mboxlist.Entry's Server
// and Partition are the preferred primary location; Locations lists every
// location, the preferred primary first (a Store keeps the two consistent:
// see Normalize).
type Entry struct {
	mboxlist.Entry
	// Locations holds every location of the mailbox, preferred primary first.
	Locations []Location
	// Revision is assigned by the registry on every change. On Update it is
	// the revision the caller read (compare-and-set); on Create and Put a
	// non-zero value is the revision the caller's copy was read at, so that
	// a replay of an older state is refused when a newer tombstone exists.
	Revision int64
}

// Normalize makes Server/Partition and Locations agree: when Locations is
// empty it is set from Server/Partition (if either is set); otherwise
// Locations wins and Server/Partition are set from Locations[0] (so to move
// a mailbox read from the registry, use SetPrimary or set Locations).
func (e *Entry) Normalize() {
	if len(e.Locations) == 0 {
		if e.Server != "" || e.Has(mboxlist.FieldPartition) {
			e.Locations = []Location{e.Primary()}
		}
		return
	}
	e.setLocation(e.Locations[0])
}

// setLocation sets the embedded entry's Server and Partition from l.
func (e *Entry) setLocation(l Location) {
	e.Server, e.Partition = l.Server, l.Partition
	e.SetPresent(mboxlist.FieldPartition, l.Partition == "" && l.EmptyPartition)
}

// SetPrimary makes loc the preferred primary: it moves loc to the front of
// Locations (adding it when absent) and sets Server/Partition. To replace
// every location, set Locations directly.
func (e *Entry) SetPrimary(loc Location) {
	locs := []Location{loc}
	for _, l := range e.Locations {
		if l != loc {
			locs = append(locs, l)
		}
	}
	e.Locations = locs
	e.setLocation(loc)
}

// Primary returns the preferred primary location.
func (e *Entry) Primary() Location {
	if len(e.Locations) > 0 {
		return e.Locations[0]
	}
	return Location{Server: e.Server, Partition: e.Partition,
		EmptyPartition: e.Partition == "" && e.Has(mboxlist.FieldPartition)}
}

// Tombstone records a deletion: it stops a replay of an older state (a
// resync, a write-through retry) from resurrecting the mailbox.
type Tombstone struct {
	Name        string
	UniqueID    string // empty when the deleted entry had none
	UIDValidity uint32
	Revision    int64 // the revision of the deletion
	Time        time.Time
}

// EventType says what a change did.
type EventType uint8

const (
	// EventPut: the mailbox was created or changed; Event.Entry holds it.
	EventPut EventType = 1
	// EventDelete: the mailbox was deleted; Event.Tombstone holds the record.
	EventDelete EventType = 2
	// EventProgress: no change; every change up to Event.Revision has been
	// delivered. A backend sends it when asked (ProgressRequester) and may
	// at other times; consumers that only want changes skip it.
	EventProgress EventType = 3
)

// StaleReader is implemented by stores that can read an entry more
// cheaply than Get when the caller will only use it as the expected state
// of a compare-and-set write (etcd: from the store's cache of its own
// writes, else from the member the client talks to, without a quorum
// round, so it may lag the cluster). The answer may be
// stale but is never torn; a write based on it fails with ErrConflict,
// ErrExists or ErrNotFound when it was, and the caller then reads with Get.
type StaleReader interface {
	GetStale(ctx context.Context, name string) (Entry, error)
}

// ProgressRequester is implemented by stores whose watches can confirm how
// far they have delivered (every backend: etcd and leveldb; the conformance
// suite checks it). RequestProgress returns the store's current revision R
// and has every watch of the store send, once it has delivered every change
// up to R, an EventProgress with a revision of at least R (a watch may also
// send progress events with lower revisions before that, for instance from
// an etcd member that had not yet applied R). A bridge answering a
// frontend's NOOP waits for R to flush changes written by other bridges
// and other paths.
type ProgressRequester interface {
	RequestProgress(ctx context.Context) (int64, error)
}

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	case EventProgress:
		return "progress"
	}
	return "invalid"
}

// Event is one change of the registry, as Watch delivers it.
type Event struct {
	Type      EventType
	Revision  int64
	Name      string
	Entry     Entry     // EventPut
	Tombstone Tombstone // EventDelete
	// Prev is the entry this change replaced or deleted, when the backend
	// knows it: etcd always (its watch carries the previous value); leveldb
	// for the last 8192 revisions written by this process (its change log
	// keeps only the new state, and one process owns the store). nil for a
	// create, and when unknown.
	Prev *Entry
	// Err ends the stream: the last event has it set and nothing else.
	Err error
}

// ImportStats counts what an Import did.
type ImportStats struct {
	Created   int // absent before
	Updated   int // present with different content
	Unchanged int // present with the same content (a re-run): not rewritten
}

// Store is the registry: the union of the roles below, what a backend
// (leveldb, etcd) implements and the conformance suite (registrytest)
// checks. Every method takes a context first; errors wrap the typed
// sentinels (ErrNotFound, ErrExists, ErrConflict, ErrTombstoned,
// ErrUnavailable, ErrCompacted, ErrInvalid), test them with errors.Is.
//
// Names are internal names as `ctl_mboxlist -d` spells them. Listings come in
// Cyrus order: the byte order of Cyrus 3.6's dbname (see DBName), which is
// the order of `ctl_mboxlist -d`, MUPDATE LIST and UPDATE.
//
// A caller asks for the narrowest role it uses (Reader, Writer, Importer,
// Watcher, SlotStore, Maintainer), so that a store that offers only some of
// them (httpapi.Client: Reader and SlotStore) is refused at compile time
// where it cannot serve.
type Store interface {
	Reader
	Writer
	Importer
	Watcher
	SlotStore
	Maintainer
	// Close releases the store (the leveldb file lock, the etcd client).
	Close() error
}

// Reader reads entries, tombstones and listings.
type Reader interface {
	// Get returns the live entry for name, or ErrNotFound (also when only a
	// tombstone is left).
	Get(ctx context.Context, name string) (Entry, error)
	// GetTombstone returns the tombstone for name, or ErrNotFound.
	GetTombstone(ctx context.Context, name string) (Tombstone, error)

	// List calls fn for every live entry named prefix or below it
	// (hierarchy-aware: "user.foo" matches user.foo and user.foo.*, never
	// user.foobar; "example.com!" matches that domain; "" matches all), in
	// Cyrus order, from one consistent snapshot, and returns the revision of
	// that snapshot: Watch(rev) then continues without gap or duplicate. An
	// error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(Entry) error) (rev int64, err error)
	// Count returns the number of live entries List(prefix) would give.
	Count(ctx context.Context, prefix string) (int, error)

	// Visible returns the names userid may list, in the order Cyrus's IMAP
	// LIST "" "*" gives them (see VisibleRules), at a cost that grows with
	// the answer. groups are group names without the "group:" prefix.
	Visible(ctx context.Context, userid string, groups []string) ([]string, error)

	// Revision returns the current revision of the registry.
	Revision(ctx context.Context) (int64, error)
}

// Writer changes single entries, with compare-and-set.
type Writer interface {
	// Create stores e if no live entry has its name (atomic
	// create-if-absent: of two concurrent creators exactly one succeeds, the
	// other gets ErrExists). A fresh create after a delete succeeds and
	// removes the tombstone; it is refused with ErrTombstoned when the
	// tombstone is newer than a non-zero e.Revision (a replay of a state read
	// before the delete). It returns the stored entry with its new Revision.
	Create(ctx context.Context, e Entry) (Entry, error)
	// Update replaces the entry if its current revision is e.Revision
	// (compare-and-set): ErrNotFound when absent, ErrConflict when changed.
	Update(ctx context.Context, e Entry) (Entry, error)
	// Put creates or replaces the entry whatever its current revision (the
	// MUPDATE ACTIVATE upsert, which may move a location). Tombstones are
	// honoured as in Create.
	Put(ctx context.Context, e Entry) (Entry, error)
	// Delete removes the entry, leaving a tombstone. rev is the revision the
	// caller read (compare-and-set), or 0 for any. ErrNotFound when absent,
	// ErrConflict when changed.
	Delete(ctx context.Context, name string, rev int64) (Tombstone, error)
}

// Importer stores batches of entries (the mboxconv import path).
type Importer interface {
	// Import stores a batch of entries without compare-and-set: absent
	// entries are created, different ones replaced, equal ones (ignoring
	// Revision) left alone, so a re-run is a no-op. Tombstones of imported
	// names are removed. Each call is atomic on leveldb and made of atomic
	// transactions on etcd.
	Import(ctx context.Context, entries []Entry) (ImportStats, error)
}

// Watcher follows the changes of the registry.
type Watcher interface {
	// Watch delivers every change with a revision above from, in revision
	// order, until ctx ends (the channel closes) or an error occurs (a last
	// Event with Err set, then the channel closes). Several events may share
	// one revision (one transaction of an etcd Import); they are delivered
	// together, so resume from the last revision whose events were all
	// handled. Err wraps ErrCompacted when from is older than the retained
	// history: the caller starts over with List.
	Watch(ctx context.Context, from int64) <-chan Event
}

// SlotStore manages slots: CreateSlot is create-if-absent, UpdateSlot and
// DeleteSlot are compare-and-set on Slot.Revision.
type SlotStore interface {
	GetSlot(ctx context.Context, name string) (Slot, error)
	ListSlots(ctx context.Context) ([]Slot, error)
	CreateSlot(ctx context.Context, s Slot) (Slot, error)
	UpdateSlot(ctx context.Context, s Slot) (Slot, error)
	DeleteSlot(ctx context.Context, name string, rev int64) error
}

// Maintainer does the registry's housekeeping.
type Maintainer interface {
	// GCTombstones removes tombstones written before cutoff and returns how
	// many it removed.
	GCTombstones(ctx context.Context, cutoff time.Time) (int, error)
}
