package mboxlist

import "strings"

// Entry is one mailbox as Cyrus 3.6's `ctl_mboxlist -d` describes it. It is the
// version-neutral model: readers of every Cyrus version decode into it and
// writers of every version encode from it (see values.go).
//
// Name is the internal name as `ctl_mboxlist -d` spells it ("user.fred.Sent",
// "example.com!user.jane", "DELETED.user.fred.Old.5F000000"), byte-exact
// (modified UTF-7, `^` for a literal dot when unixhierarchysep is on).
type Entry struct {
	Name             string
	Type             MBType
	Partition        string
	Server           string // empty for a local entry
	ACL              ACL    // nil: no ACL field at all; empty non-nil: `A %()`
	UniqueID         string
	UIDValidity      uint32
	CreatedModseq    uint64
	FolderModseq     uint64
	Mtime            int64
	LegacySpecialUse string
	History          []HistoryItem // newest former name first
	// JMAPID is the `J` field of Cyrus master (post-3.12) records; no
	// released version writes it.
	JMAPID string
	// Empty holds the string fields that Cyrus stored with an empty value,
	// which is not the same as absent (Cyrus keeps a NULL apart from ""): a
	// 3.6+ master stores every RENAME target and DELETED.* name a backend
	// pushes as `P ""` (MUPDATE location `host!`), and writes it back, and
	// sends it on, only if the field is there. A bit counts only while its
	// field's string is empty; use Has to ask whether a field is present.
	Empty Fields
}

// Fields is a set of an entry's optional string fields.
type Fields uint8

const (
	FieldPartition  Fields = 1 << iota // P, "partition"
	FieldServer                        // S, "server"
	FieldUniqueID                      // I, "uniqueid"
	FieldSpecialUse                    // "legacy_specialuse" (pre-3.6 specialuse)
	FieldJMAPID                        // J, "jmapId"
)

var optionalFieldNames = [...]string{"partition", "server", "uniqueid", "legacy_specialuse", "jmapId"}

func (f Fields) String() string {
	var b strings.Builder
	for i, n := range optionalFieldNames {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

func (e *Entry) field(f Fields) string {
	switch f {
	case FieldPartition:
		return e.Partition
	case FieldServer:
		return e.Server
	case FieldUniqueID:
		return e.UniqueID
	case FieldSpecialUse:
		return e.LegacySpecialUse
	case FieldJMAPID:
		return e.JMAPID
	}
	return ""
}

// Has reports whether the string field f is present: not empty, or stored
// empty (its Empty bit set).
func (e *Entry) Has(f Fields) bool { return e.field(f) != "" || e.Empty&f != 0 }

// SetPresent records whether the field f, when empty, is present ("") or
// absent. It changes nothing for a field that holds a value.
func (e *Entry) SetPresent(f Fields, present bool) {
	if present {
		e.Empty |= f
	} else {
		e.Empty &^= f
	}
}

// EmptyFields returns the fields that are present with an empty value
// (the Empty bits of fields that hold no value).
func (e *Entry) EmptyFields() Fields {
	out := e.Empty
	for f := Fields(1); f <= FieldJMAPID; f <<= 1 {
		if e.field(f) != "" {
			out &^= f
		}
	}
	return out
}

// HistoryItem is one former name of a mailbox (the `H` list of a 3.6 I-record).
type HistoryItem struct {
	Name          string // internal name
	Mtime         int64
	UIDValidity   uint32
	CreatedModseq uint64
	FolderModseq  uint64
	Type          MBType
	Partition     string
	// EmptyPartition: the item has `P ""` (present, empty), not no P.
	EmptyPartition bool
}

// HasPartition reports whether the item's partition is present.
func (h *HistoryItem) HasPartition() bool { return h.Partition != "" || h.EmptyPartition }

// ACLItem is one identifier and its rights. A negative entry keeps its
// leading '-' in ID ("-fred").
type ACLItem struct {
	ID     string
	Rights string
}

// ACL keeps the order Cyrus stored, which the dump formats reproduce.
type ACL []ACLItem

// MBType is a mailbox type and its flags in Cyrus 3.6 numbering
// (docs/cyrus-db.md §4.3): the low four bits are the type, the rest flags.
type MBType uint32

const (
	TypeEmail       MBType = 0x0
	TypeNetnews     MBType = 0x1
	TypeSubmission  MBType = 0x2
	TypePushSub     MBType = 0x3
	TypeJMAPNotify  MBType = 0x4
	TypeSieve       MBType = 0x5
	TypeCollection  MBType = 0x8
	TypeCalendar    MBType = 0x9
	TypeAddressbook MBType = 0xA
	TypeMask        MBType = 0xF

	FlagRemote       MBType = 1 << 4
	FlagReserve      MBType = 1 << 5
	FlagMoving       MBType = 1 << 6
	FlagDeleted      MBType = 1 << 7
	FlagIntermediate MBType = 1 << 8
	FlagLegacyDirs   MBType = 1 << 9
)

// Kind returns the type without flags.
func (t MBType) Kind() MBType { return t & TypeMask }

// Has reports whether every flag in f is set.
func (t MBType) Has(f MBType) bool { return t&f == f }

// Clone returns a deep copy of e.
func (e *Entry) Clone() Entry {
	c := *e
	if e.ACL != nil {
		c.ACL = append(ACL{}, e.ACL...)
	}
	if e.History != nil {
		c.History = append([]HistoryItem{}, e.History...)
	}
	return c
}

// Location is the MUPDATE location Cyrus's master forms for the entry:
// "server!partition" when both are present (so "host!" for `P ""`), the
// server alone when there is no partition, the partition alone when there
// is no server.
func (e *Entry) Location() string {
	if !e.Has(FieldServer) {
		return e.Partition
	}
	if !e.Has(FieldPartition) {
		return e.Server
	}
	return e.Server + "!" + e.Partition
}

// ImplicitOwnerRights are the rights imapd.conf implicit_owner_rights gives
// a mailbox's owner by default ("lkxan"). Cyrus applies them when an ACL is
// set (the owner's item keeps them), not when it is read: LIST asks the ACL
// as stored (see ListableBy).
const ImplicitOwnerRights Rights = "lkxan"

// Listable reports whether e can appear in anyone's IMAP LIST "" "*" at all:
// an email mailbox (3.6 kind e), not a tombstone (d), not reserved (z), not
// an intermediate placeholder (i: Cyrus 3.6.1 shows one only to '%'
// patterns, never to "*"), and not a delayed-delete name (DELETED.*, as
// ParseIntName reads it). Remote and moving entries are listable.
// docs/entry-model.md ("Who sees a mailbox") has the rule and its proofs.
func (e *Entry) Listable(c *NameConfig) bool {
	if e.Type.Kind() != TypeEmail || e.Type&(FlagDeleted|FlagReserve|FlagIntermediate) != 0 {
		return false
	}
	return ParseIntName(e.Name, c).Deleted == 0
}

// ListableBy is the visibility rule of `murder-bridge visible`, the
// registry's index and shadow (docs/entry-model.md, "Who sees a mailbox"):
// e is Listable, lies in the identity's domain (the part of the userid
// after its last '@'; "" for none), and either lies in the identity's own
// hierarchy (user.LOCAL and below) with no negative `l` the identity
// matches, or the ACL gives the identity `l`: the
// union of the positive items it matches (its userid, "anyone",
// "anonymous" for the anonymous identity, its "group:" identifiers) minus
// the union of the negative ones. The own-hierarchy exception is the
// registry's contract (its etcd layout leaves out a user's rows on its own
// hierarchy, registry.OwnRow); real Cyrus 3.6.1 has no such exception, see
// the page.
func (e *Entry) ListableBy(who Identity, c *NameConfig) bool {
	if !e.Listable(c) {
		return false
	}
	_, userDomain := SplitUserID(who.User)
	if d, _ := SplitDomain(e.Name); d != userDomain {
		return false
	}
	if who.User != "" && !who.Anonymous && ParseIntName(e.Name, c).UserID() == who.User {
		// a negative `l` hides an own mailbox too (Cyrus 3.6.1's LIST
		// subtracts negative items for everyone; docs/twins.md)
		return !e.ACL.Denies(who, 'l')
	}
	return e.ACL.Can(who, 'l')
}
