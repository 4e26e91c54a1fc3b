package registry

import (
	"encoding/binary"
	"fmt"

	"github.com/murderkit/murderkit/mboxlist"
)

// The compact stored form of an entry (leveldb backend): a version byte
// binEntryV1 (a JSON form always starts with '{'), then
//
//	name, type, revision, locations (count, then server and partition
//	each), ACL (0 for nil, else count+1, then id and rights each),
//	uniqueid, uidvalidity, createdmodseq, foldermodseq, mtime,
//	specialuse, history (count, then name, mtime, uidvalidity,
//	createdmodseq, foldermodseq, type, partition each)
//
// with strings as uvarint length + bytes, unsigned numbers as uvarints and
// revision and times as zigzag varints. It holds exactly what the JSON
// form holds (DecodeEntry reads both), without encoding/json's reflection
// and allocations.
//
// An entry with a field stored empty rather than absent (a location
// "host!", `S ""`, a history item's `P ""`) gets version byte binEntryV2 and,
// after the history, three uvarints: the entry's other empty fields
// (mboxlist.Fields less the partition), a bit per location with an empty
// partition, and a bit per history item (of the first 64) with an empty
// partition. Every other entry keeps the V1 bytes, so equal content still
// gives equal bytes.
const (
	binEntryV1 = 0x01
	binEntryV2 = 0x02
)

// emptyBits returns the V2 trailer's three masks (all 0: write V1); ok is
// false when a history item past the 64th has an empty partition, which
// only the JSON form can hold.
func emptyBits(e *Entry, locs []Location) (fields, locMask, histMask uint64, ok bool) {
	fields = uint64(e.Empty &^ mboxlist.FieldPartition)
	for i, l := range locs {
		if l.Partition == "" && l.EmptyPartition {
			locMask |= 1 << uint(i)
		}
	}
	for i, h := range e.History {
		if h.Partition == "" && h.EmptyPartition {
			if i >= 64 {
				return 0, 0, 0, false
			}
			histMask |= 1 << uint(i)
		}
	}
	return fields, locMask, histMask, true
}

// AppendEntryBinary appends the compact stored form of e to b.
func AppendEntryBinary(b []byte, e *Entry, withRev bool) []byte {
	locs := storedLocations(e)
	fields, locMask, histMask, ok := emptyBits(e, locs)
	if !ok {
		return append(b, EncodeEntry(e, withRev)...)
	}
	v2 := fields|locMask|histMask != 0
	if v2 {
		b = append(b, binEntryV2)
	} else {
		b = append(b, binEntryV1)
	}
	b = appendStr(b, e.Name)
	b = binary.AppendUvarint(b, uint64(e.Type))
	var rev int64
	if withRev {
		rev = e.Revision
	}
	b = binary.AppendVarint(b, rev)
	b = binary.AppendUvarint(b, uint64(len(locs)))
	for _, l := range locs {
		b = appendStr(b, l.Server)
		b = appendStr(b, l.Partition)
	}
	if e.ACL == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(e.ACL))+1)
		for _, it := range e.ACL {
			b = appendStr(b, it.ID)
			b = appendStr(b, it.Rights)
		}
	}
	b = appendEntryTail(b, e, false)
	if v2 {
		b = binary.AppendUvarint(b, fields)
		b = binary.AppendUvarint(b, locMask)
		b = binary.AppendUvarint(b, histMask)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// binReader reads the compact form; the first error sticks.
type binReader struct {
	b   []byte
	off int
	err error
}

func (r *binReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at offset %d (0x%x)", what, r.off, r.off)
	}
}

func (r *binReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	r.off += n
	return v
}

// varint reads a zig-zag signed varint (binary.AppendVarint's form, which
// is binary.Varint's decoding of an unsigned varint).
func (r *binReader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *binReader) u32() uint32 {
	v := r.uvarint()
	if v > 1<<32-1 {
		r.fail("number out of range")
		return 0
	}
	return uint32(v)
}

// count reads a count of items each at least min bytes long.
func (r *binReader) count(min int) int {
	v := r.uvarint()
	if r.err == nil && v > uint64(len(r.b)-r.off)/uint64(min) {
		r.fail("count past the end")
		return 0
	}
	return int(v)
}

// str reads a uvarint length and that many bytes.
func (r *binReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	return r.lit(n)
}

func decodeEntryBinary(b []byte, where string) (Entry, error) {
	r := &binReader{b: b, off: 1}
	var e Entry
	e.Name = r.str()
	e.Type = mboxlist.MBType(r.u32())
	e.Revision = r.varint()
	if n := r.count(2); n > 0 {
		e.Locations = make([]Location, n)
		for i := range e.Locations {
			e.Locations[i] = Location{Server: r.str(), Partition: r.str()}
		}
	}
	if n := r.count(1); n > 0 {
		if n-1 > (len(b)-r.off)/2 {
			r.fail("count past the end")
		} else {
			e.ACL = make(mboxlist.ACL, n-1)
			for i := range e.ACL {
				e.ACL[i] = mboxlist.ACLItem{ID: r.str(), Rights: r.str()}
			}
		}
	}
	r.entryTail(&e, false)
	return r.finish(e, where, b[0] == binEntryV2)
}

// appendEntryTail appends what every binary form stores after the ACL (the
// fields entryTail reads back); keyed: history partitions in the keyed
// form's shorthand.
func appendEntryTail(b []byte, e *Entry, keyed bool) []byte {
	b = appendStr(b, e.UniqueID)
	b = binary.AppendUvarint(b, uint64(e.UIDValidity))
	b = binary.AppendUvarint(b, e.CreatedModseq)
	b = binary.AppendUvarint(b, e.FolderModseq)
	b = binary.AppendVarint(b, e.Mtime)
	b = appendStr(b, e.LegacySpecialUse)
	b = binary.AppendUvarint(b, uint64(len(e.History)))
	for _, h := range e.History {
		b = appendStr(b, h.Name)
		b = binary.AppendVarint(b, h.Mtime)
		b = binary.AppendUvarint(b, uint64(h.UIDValidity))
		b = binary.AppendUvarint(b, h.CreatedModseq)
		b = binary.AppendUvarint(b, h.FolderModseq)
		b = binary.AppendUvarint(b, uint64(h.Type))
		if keyed {
			b = appendPartition(b, h.Partition)
		} else {
			b = appendStr(b, h.Partition)
		}
	}
	return b
}

// entryTail reads what every binary form stores after the ACL, in this
// order: uniqueid, uidvalidity, createdmodseq, foldermodseq, mtime, the
// legacy special-use, then the name history, whose partitions are strings
// or, in the keyed form, partition's shorthand (the forms differ only there).
func (r *binReader) entryTail(e *Entry, keyed bool) {
	e.UniqueID = r.str()
	e.UIDValidity = r.u32()
	e.CreatedModseq = r.uvarint()
	e.FolderModseq = r.uvarint()
	e.Mtime = r.varint()
	e.LegacySpecialUse = r.str()
	if n := r.count(7); n > 0 {
		e.History = make([]mboxlist.HistoryItem, n)
		for i := range e.History {
			h := &e.History[i]
			h.Name = r.str()
			h.Mtime = r.varint()
			h.UIDValidity = r.u32()
			h.CreatedModseq = r.uvarint()
			h.FolderModseq = r.uvarint()
			h.Type = mboxlist.MBType(r.u32())
			if keyed {
				h.Partition = r.partition()
			} else {
				h.Partition = r.str()
			}
		}
	}
}

// finish reads the trailer of the forms that carry one (which fields are
// empty rather than absent, and which locations and history items have an
// empty partition), checks that nothing follows and normalises e.
func (r *binReader) finish(e Entry, where string, trailer bool) (Entry, error) {
	if trailer {
		e.Empty = mboxlist.Fields(r.uvarint()) &^ mboxlist.FieldPartition
		locMask, histMask := r.uvarint(), r.uvarint()
		for i := range e.Locations {
			if i < 64 && locMask&(1<<uint(i)) != 0 && e.Locations[i].Partition == "" {
				e.Locations[i].EmptyPartition = true
			}
		}
		for i := range e.History {
			if i < 64 && histMask&(1<<uint(i)) != 0 && e.History[i].Partition == "" {
				e.History[i].EmptyPartition = true
			}
		}
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return Entry{}, fmt.Errorf("registry: corrupt entry at %s: %w", where, r.err)
	}
	e.Normalize()
	return e, nil
}
