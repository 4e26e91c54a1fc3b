package convert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"sort"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// Digest sums the content of a set of entries per slot: a count and an
// order-independent sum (mod 2^256) of the SHA-256 of each entry's
// canonical bytes, so two sources listed in different orders, or an import
// resumed half-way, digest alike exactly when they hold the same entries.
//
// The canonical bytes are every field of registry.EncodeEntry without the
// revision, absent and empty kept apart (see Canonical), with Locations set
// from Server/Partition when empty.
type Digest struct {
	// SlotOf names the slot of an entry; nil groups by "server:" + the
	// preferred primary's server.
	SlotOf func(e *registry.Entry) string
	// IgnoreMtime leaves mtimes out of the canonical bytes.
	IgnoreMtime bool
	slots       map[string]*SlotDigest
	buf         []byte
	// The slot of the last entry added without SlotOf, by server name:
	// consecutive entries mostly share it (no string built, no lookup).
	lastServer string
	last       *SlotDigest
}

// SlotDigest is the digest of the entries of one slot.
type SlotDigest struct {
	Count int
	sum   [4]uint64
}

// Sum is the hex form of the content sum.
func (s *SlotDigest) Sum() string {
	var b [32]byte
	for i, v := range s.sum {
		binary.BigEndian.PutUint64(b[i*8:], v)
	}
	return hex.EncodeToString(b[:])
}

// SlotBy returns a SlotOf function using the registry's slots: the slot
// covering the preferred primary location, "server:NAME" when none does.
func SlotBy(slots []registry.Slot) func(e *registry.Entry) string {
	return func(e *registry.Entry) string {
		if s, ok := registry.SlotFor(slots, e.Primary()); ok {
			return s.Name
		}
		return "server:" + e.Primary().Server
	}
}

// Canonical returns the canonical bytes of e: every field of the entry the
// registry stores, length-prefixed, in a fixed order (the revision left
// out, Locations taken from Server/Partition when empty). Absent and empty
// are different everywhere Cyrus keeps them apart: a nil ACL (no A field)
// and an empty one (`A %()`), a location "host" and "host!", `S ""` and no
// S, a history item's `P ""` and no P.
func Canonical(e *registry.Entry, ignoreMtime bool) []byte {
	return appendCanonical(nil, e, ignoreMtime)
}

func appendCanonical(b []byte, e *registry.Entry, ignoreMtime bool) []byte {
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	num := func(v uint64) { b = binary.AppendUvarint(b, v) }
	str(e.Name)
	num(uint64(e.Type))
	locs := e.Locations
	if len(locs) == 0 && (e.Server != "" || e.Has(mboxlist.FieldPartition)) {
		locs = []registry.Location{e.Primary()}
	}
	num(uint64(len(locs)))
	for _, l := range locs {
		str(l.Server)
		str(l.Partition)
		b = append(b, boolByte(l.Partition == "" && l.EmptyPartition))
	}
	b = append(b, boolByte(e.ACL == nil), byte(e.EmptyFields()&^mboxlist.FieldPartition))
	num(uint64(len(e.ACL)))
	for _, it := range e.ACL {
		str(it.ID)
		str(it.Rights)
	}
	str(e.UniqueID)
	num(uint64(e.UIDValidity))
	num(e.CreatedModseq)
	num(e.FolderModseq)
	if ignoreMtime {
		num(0)
	} else {
		num(uint64(e.Mtime))
	}
	str(e.LegacySpecialUse)
	num(uint64(len(e.History)))
	for _, h := range e.History {
		str(h.Name)
		if ignoreMtime {
			num(0)
		} else {
			num(uint64(h.Mtime))
		}
		num(uint64(h.UIDValidity))
		num(h.CreatedModseq)
		num(h.FolderModseq)
		num(uint64(h.Type))
		str(h.Partition)
		b = append(b, boolByte(h.Partition == "" && h.EmptyPartition))
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// Add adds one entry.
func (d *Digest) Add(e *registry.Entry) {
	if d.slots == nil {
		d.slots = map[string]*SlotDigest{}
	}
	var s *SlotDigest
	if d.SlotOf != nil {
		s = d.slot(d.SlotOf(e))
	} else if srv := e.Primary().Server; d.last != nil && srv == d.lastServer {
		s = d.last
	} else {
		s = d.slot("server:" + srv)
		d.last, d.lastServer = s, srv
	}
	d.buf = appendCanonical(d.buf[:0], e, d.IgnoreMtime)
	h := sha256.Sum256(d.buf)
	var v [4]uint64
	for i := range v {
		v[i] = binary.BigEndian.Uint64(h[i*8:])
	}
	s.add(&v)
	s.Count++
}

// add adds v to the sum, mod 2^256 (big-endian words).
func (s *SlotDigest) add(v *[4]uint64) {
	var carry uint64
	for i := 3; i >= 0; i-- {
		s.sum[i], carry = bits.Add64(s.sum[i], v[i], carry)
	}
}

// Merge adds every entry digested in o to d, as if each had been added to
// d (the sums are order-independent): the digests of several goroutines,
// each over a part of the entries, merge into the digest of all of them.
// o should use the same SlotOf and IgnoreMtime as d.
func (d *Digest) Merge(o *Digest) {
	if len(o.slots) == 0 {
		return
	}
	if d.slots == nil {
		d.slots = map[string]*SlotDigest{}
	}
	for name, os := range o.slots {
		s := d.slots[name]
		if s == nil {
			s = &SlotDigest{}
			d.slots[name] = s
		}
		s.add(&os.sum)
		s.Count += os.Count
	}
}

// slot returns the digest of a slot, created when absent.
func (d *Digest) slot(name string) *SlotDigest {
	s := d.slots[name]
	if s == nil {
		s = &SlotDigest{}
		d.slots[name] = s
	}
	return s
}

// Total is the number of entries added.
func (d *Digest) Total() int {
	n := 0
	for _, s := range d.slots {
		n += s.Count
	}
	return n
}

// Slots returns the slot names, sorted.
func (d *Digest) Slots() []string {
	var names []string
	for n := range d.slots {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Slot returns the digest of one slot (a zero one when absent).
func (d *Digest) Slot(name string) SlotDigest {
	if s := d.slots[name]; s != nil {
		return *s
	}
	return SlotDigest{}
}

// Compare lists every slot whose count or sum differs between d and o, one
// readable line each; nil when they agree.
func (d *Digest) Compare(o *Digest) []string {
	seen := map[string]bool{}
	var out []string
	for _, names := range [][]string{d.Slots(), o.Slots()} {
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			a, b := d.Slot(n), o.Slot(n)
			if a.Count != b.Count || a.sum != b.sum {
				out = append(out, fmt.Sprintf("slot %s: %d entries (sum %.16s…) against %d (sum %.16s…)", n, a.Count, a.Sum(), b.Count, b.Sum()))
			}
		}
	}
	sort.Strings(out)
	return out
}

// SlotState is one slot of a digest as a checkpoint keeps it.
type SlotState struct {
	Count int       `json:"count"`
	Sum   [4]uint64 `json:"sum"`
}

// State returns the digest's counts and sums per slot (for a checkpoint).
func (d *Digest) State() map[string]SlotState {
	out := make(map[string]SlotState, len(d.slots))
	for name, s := range d.slots {
		out[name] = SlotState{Count: s.Count, Sum: s.sum}
	}
	return out
}

// Restore replaces the digest's slots with st (from State).
func (d *Digest) Restore(st map[string]SlotState) {
	d.slots = make(map[string]*SlotDigest, len(st))
	for name, s := range st {
		d.slots[name] = &SlotDigest{Count: s.Count, sum: s.Sum}
	}
}
