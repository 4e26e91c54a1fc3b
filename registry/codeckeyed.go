package registry

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
)

// The keyed compact form of an entry (etcd backend, docs/registry.md "Stored
// entry forms"): for a store that keeps every entry under its dbname
// (DBName(e.Name)), so the name need not be stored again, and whose values
// are held in memory by every member (etcd's raft log) and on disk once per
// key. Version byte binEntryKeyed, then
//
//	flags (uvarint: bit 0 the name is stored, bit 1 the empty-field trailer
//	follows), [name], type, locations (count, then server and partition
//	each), ACL (0 for nil, else count+1, then id and rights each), uniqueid,
//	uidvalidity, createdmodseq, foldermodseq, mtime, specialuse, history
//	(count, then name, mtime, uidvalidity, createdmodseq, foldermodseq,
//	type, partition each), [the three masks of binEntryV2's trailer]
//
// with numbers and strings as in binEntryV1, and three shorthands:
//
//   - the name is left out when the key gives it back exactly
//     (NameFromDB(DBName(name)) == name); DecodeEntryKeyed takes it from the
//     key then;
//   - an ACL identifier is a uvarint x: 0 is the owner of the mailbox
//     (keyedOwner: "L" for DBName "user␟L[␟…]", "L@D" for "D␝user␟L[␟…]"),
//     x > 0 a literal of x-1 bytes;
//   - rights are a uvarint y: even is the canonical rights string of the
//     mask y>>1 over mboxlist.RightLetters (bit i is letter i, the letters
//     in that order, each once: how Cyrus writes rights), odd a literal of
//     y>>1 bytes (any other string, kept byte for byte);
//   - a partition is a uvarint z: 0 is "default", z > 0 a literal of z-1
//     bytes.
//
// It holds exactly what binEntryV1/V2 hold; a typical user folder's value
// is ~60 bytes instead of ~110.
const binEntryKeyed = 0x03

const (
	keyedName    = 1 << 0
	keyedTrailer = 1 << 1
)

// AppendEntryKeyed appends the keyed compact form of e (without its
// revision) to b. The store must keep it under DBName(e.Name) and read it
// with DecodeEntryKeyed.
func AppendEntryKeyed(b []byte, e *Entry) []byte {
	locs := storedLocations(e)
	fields, locMask, histMask, ok := emptyBits(e, locs)
	if !ok {
		return append(b, EncodeEntry(e, false)...)
	}
	db := DBName(e.Name)
	var flags uint64
	if NameFromDB(db) != e.Name {
		flags |= keyedName
	}
	if fields|locMask|histMask != 0 {
		flags |= keyedTrailer
	}
	b = append(b, binEntryKeyed)
	b = binary.AppendUvarint(b, flags)
	if flags&keyedName != 0 {
		b = appendStr(b, e.Name)
	}
	b = binary.AppendUvarint(b, uint64(e.Type))
	b = binary.AppendUvarint(b, uint64(len(locs)))
	for _, l := range locs {
		b = appendStr(b, l.Server)
		b = appendPartition(b, l.Partition)
	}
	if e.ACL == nil {
		b = append(b, 0)
	} else {
		owner := keyedOwner(db)
		b = binary.AppendUvarint(b, uint64(len(e.ACL))+1)
		for _, it := range e.ACL {
			if owner != "" && it.ID == owner {
				b = append(b, 0)
			} else {
				b = binary.AppendUvarint(b, uint64(len(it.ID))+1)
				b = append(b, it.ID...)
			}
			if m, ok := rightsMask(it.Rights); ok {
				b = binary.AppendUvarint(b, m<<1)
			} else {
				b = binary.AppendUvarint(b, uint64(len(it.Rights))<<1|1)
				b = append(b, it.Rights...)
			}
		}
	}
	b = appendEntryTail(b, e, true)
	if flags&keyedTrailer != 0 {
		b = binary.AppendUvarint(b, fields)
		b = binary.AppendUvarint(b, locMask)
		b = binary.AppendUvarint(b, histMask)
	}
	return b
}

// IsEntryKeyed reports whether b is an entry in the keyed form (only
// DecodeEntryKeyed reads it).
func IsEntryKeyed(b []byte) bool { return len(b) > 0 && b[0] == binEntryKeyed }

// DecodeEntryKeyed parses an entry stored under dbname db in any stored
// form (the keyed one, the compact one, JSON); where names the key for an
// error.
func DecodeEntryKeyed(b []byte, db, where string) (Entry, error) {
	if !IsEntryKeyed(b) {
		return DecodeEntry(b, where)
	}
	return decodeEntryKeyed(b, db, true, where)
}

const defaultPartition = "default"

func appendPartition(b []byte, p string) []byte {
	if p == defaultPartition {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(p))+1)
	return append(b, p...)
}

// keyedOwner is the owner the keyed form's ACL shorthand stands for: the
// user whose hierarchy dbname db is in ("" for any other mailbox).
func keyedOwner(db string) string {
	dom, rest := "", db
	if i := strings.IndexByte(db, mboxlist.DBDomainSep); i >= 0 {
		dom, rest = db[:i], db[i+1:]
	}
	local, ok := strings.CutPrefix(rest, "user\x1F")
	if !ok {
		return ""
	}
	if j := strings.IndexByte(local, mboxlist.DBHierSep); j >= 0 {
		local = local[:j]
	}
	if local == "" {
		return ""
	}
	if dom != "" {
		return local + "@" + dom
	}
	return local
}

// rightsMask returns the mask of rights r over mboxlist.RightLetters when r
// is the canonical string of that mask (letters in that order, each once).
func rightsMask(r string) (uint64, bool) {
	var m uint64
	last := -1
	for i := 0; i < len(r); i++ {
		j := strings.IndexByte(mboxlist.RightLetters, r[i])
		if j <= last {
			return 0, false // unknown, repeated or out of order
		}
		m |= 1 << uint(j)
		last = j
	}
	return m, true
}

func rightsOfMask(m uint64) (string, bool) {
	if m>>uint(len(mboxlist.RightLetters)) != 0 {
		return "", false
	}
	var b [len(mboxlist.RightLetters)]byte
	n := 0
	for i := 0; i < len(mboxlist.RightLetters); i++ {
		if m&(1<<uint(i)) != 0 {
			b[n] = mboxlist.RightLetters[i]
			n++
		}
	}
	return string(b[:n]), true
}

// lit reads a literal of n bytes.
func (r *binReader) lit(n uint64) string {
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail("string past the end")
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

func (r *binReader) partition() string {
	z := r.uvarint()
	if z == 0 {
		return defaultPartition
	}
	return r.lit(z - 1)
}

// decodeEntryKeyed reads the keyed form; without haveDB a value without
// its name is an error.
func decodeEntryKeyed(b []byte, db string, haveDB bool, where string) (Entry, error) {
	r := &binReader{b: b, off: 1}
	var e Entry
	flags := r.uvarint()
	if r.err == nil && flags&^(keyedName|keyedTrailer) != 0 {
		r.fail(fmt.Sprintf("unknown flags %#x", flags))
	}
	switch {
	case r.err != nil:
	case flags&keyedName != 0:
		e.Name = r.str()
		db = DBName(e.Name)
	case !haveDB:
		r.fail("entry without its name read without its key")
	default:
		e.Name = NameFromDB(db)
	}
	e.Type = mboxlist.MBType(r.u32())
	if n := r.count(2); n > 0 {
		e.Locations = make([]Location, n)
		for i := range e.Locations {
			e.Locations[i] = Location{Server: r.str(), Partition: r.partition()}
		}
	}
	if n := r.count(1); n > 0 {
		if n-1 > (len(b)-r.off)/2 {
			r.fail("count past the end")
		} else {
			owner := keyedOwner(db)
			e.ACL = make(mboxlist.ACL, n-1)
			for i := range e.ACL {
				it := &e.ACL[i]
				if x := r.uvarint(); x == 0 {
					if owner == "" && r.err == nil {
						r.fail("owner shorthand in an ACL of a mailbox without owner")
					}
					it.ID = owner
				} else {
					it.ID = r.lit(x - 1)
				}
				if y := r.uvarint(); y&1 == 0 {
					s, ok := rightsOfMask(y >> 1)
					if !ok && r.err == nil {
						r.fail("rights mask out of range")
					}
					it.Rights = s
				} else {
					it.Rights = r.lit(y >> 1)
				}
			}
		}
	}
	r.entryTail(&e, true)
	return r.finish(e, where, flags&keyedTrailer != 0)
}
