package sasldb

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Berkeley DB constants used here (docs/sasldb-format.md).
const (
	hashMagic     = 0x061561
	metaSize      = 512 // bytes of the metadata page read (fields end before)
	pageHeader    = 26  // lsn 8, pgno 4, prev 4, next 4, entries 2, hf_offset 2, level 1, type 1
	pHashUnsorted = 2
	pOverflow     = 7
	pHashMeta     = 8
	pHash         = 13
	hKeyData      = 1
	hDuplicate    = 2
	hOffPage      = 3
	hOffDup       = 4
	hBlob         = 5
	maxItem       = 1 << 24 // sasldb values are at most 8 KiB; cap allocations
)

// FormatError is a malformed or unsupported sasldb file, naming the byte
// offset in the file where the problem was found.
type FormatError struct {
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("sasldb: offset %d: %s", e.Offset, e.Msg)
}

func ferr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// Entry is one key/data pair of the file, in page order.
type Entry struct {
	Key, Value []byte
}

// Meta is what the metadata page says.
type Meta struct {
	Order     binary.ByteOrder
	Version   uint32
	PageSize  uint32
	LastPgno  uint32
	MaxBucket uint32
	Spares    [32]uint32
}

// Parse reads every key/data pair of a Berkeley DB hash file held in data.
// It never panics; a malformed file gives a *FormatError.
func Parse(data []byte) (Meta, []Entry, error) {
	var m Meta
	if len(data) < 512 {
		return m, nil, ferr(0, "file is %d bytes, shorter than a Berkeley DB metadata page", len(data))
	}
	switch {
	case binary.LittleEndian.Uint32(data[12:]) == hashMagic:
		m.Order = binary.LittleEndian
	case binary.BigEndian.Uint32(data[12:]) == hashMagic:
		m.Order = binary.BigEndian
	default:
		return m, nil, ferr(12, "magic %#x is not Berkeley DB hash's %#x (not a sasldb2 made with Berkeley DB?)", binary.LittleEndian.Uint32(data[12:]), hashMagic)
	}
	o := m.Order
	m.Version = o.Uint32(data[16:])
	if m.Version < 8 || m.Version > 10 {
		return m, nil, ferr(16, "hash version %d not supported (8 to 10 are)", m.Version)
	}
	m.PageSize = o.Uint32(data[20:])
	if m.PageSize < 512 || m.PageSize > 65536 || m.PageSize&(m.PageSize-1) != 0 {
		return m, nil, ferr(20, "page size %d is not a power of two from 512 to 65536", m.PageSize)
	}
	if data[24] != 0 {
		return m, nil, ferr(24, "encrypted database (algorithm %d) not supported", data[24])
	}
	if data[25] != pHashMeta {
		return m, nil, ferr(25, "page 0 has type %d, not hash metadata (%d)", data[25], pHashMeta)
	}
	if data[26]&1 != 0 {
		return m, nil, ferr(26, "checksummed database not supported")
	}
	if pg := o.Uint32(data[8:]); pg != 0 {
		return m, nil, ferr(8, "metadata page says it is page %d", pg)
	}
	flags := o.Uint32(data[48:])
	if flags&0x3 != 0 { // DB_HASH_DUP, DB_HASH_SUBDB
		return m, nil, ferr(48, "hash flags %#x: duplicates or sub-databases are not used by sasldb", flags)
	}
	m.LastPgno = o.Uint32(data[32:])
	m.MaxBucket = o.Uint32(data[72:])
	for i := range m.Spares {
		m.Spares[i] = o.Uint32(data[96+4*i:])
	}
	if m.MaxBucket > m.LastPgno {
		return m, nil, ferr(72, "max_bucket %d beyond the last page %d", m.MaxBucket, m.LastPgno)
	}
	if need := (int64(m.LastPgno) + 1) * int64(m.PageSize); int64(len(data)) < need {
		return m, nil, ferr(int64(len(data)), "file ends at %d bytes, but its last page %d ends at %d (truncated, or being written)", len(data), m.LastPgno, need)
	}
	r := reader{m: m, data: data, ps: int64(m.PageSize)}
	var out []Entry
	for b := uint32(0); b <= m.MaxBucket; b++ {
		pg := uint64(b) + uint64(m.Spares[log2(b+1)])
		if pg == 0 || pg > uint64(m.LastPgno) {
			return m, nil, ferr(96+4*int64(log2(b+1)), "bucket %d maps to page %d, outside 1..%d", b, pg, m.LastPgno)
		}
		var err error
		if out, err = r.bucket(uint32(pg), b, out); err != nil {
			return m, nil, err
		}
	}
	return m, out, nil
}

// log2 is Berkeley DB's ceiling log2 of n (0 for n <= 1).
func log2(n uint32) int {
	i := 0
	for limit := uint64(1); limit < uint64(n); limit <<= 1 {
		i++
	}
	return i
}

type reader struct {
	m    Meta
	data []byte
	ps   int64
}

// page returns page pg, or nil when the file ends before it.
func (r *reader) page(pg uint32) []byte {
	off := int64(pg) * r.ps
	if off+r.ps > int64(len(r.data)) {
		return nil
	}
	return r.data[off : off+r.ps]
}

func (r *reader) bucket(pg, b uint32, out []Entry) ([]Entry, error) {
	o := r.m.Order
	seen := map[uint32]bool{}
	first := true
	// from is the file offset of the page number being followed: the
	// meta page for a bucket's first page, then the previous page's
	// next-page field (errors name where the bad pointer is, not where it
	// points, which may be far past the end of the file).
	from := int64(0)
	for pg != 0 {
		base := int64(pg) * r.ps
		if seen[pg] {
			return nil, ferr(from, "bucket %d: page chain loops back to page %d", b, pg)
		}
		seen[pg] = true
		if pg > r.m.LastPgno {
			return nil, ferr(from, "bucket %d: page %d beyond the last page %d", b, pg, r.m.LastPgno)
		}
		p := r.page(pg)
		if p == nil {
			return nil, ferr(from, "bucket %d: page %d beyond the end of the file (%d bytes)", b, pg, len(r.data))
		}
		typ := p[25]
		if first && typ == 0 && o.Uint32(p[8:]) == 0 && o.Uint16(p[20:]) == 0 {
			return out, nil // a page never written (a hole in the file): an empty bucket
		}
		first = false
		if typ != pHash && typ != pHashUnsorted {
			return nil, ferr(base+25, "bucket %d: page %d has type %d, not a hash page", b, pg, typ)
		}
		if got := o.Uint32(p[8:]); got != pg {
			return nil, ferr(base+8, "page %d says it is page %d", pg, got)
		}
		n := int(o.Uint16(p[20:]))
		if n%2 != 0 {
			return nil, ferr(base+20, "hash page %d has %d items, not key/data pairs", pg, n)
		}
		if pageHeader+2*n > len(p) {
			return nil, ferr(base+20, "hash page %d: %d items do not fit the page", pg, n)
		}
		// Items are stored from the end of the page down: item i runs from
		// its offset to item i-1's offset (the page end for item 0).
		prev := len(p)
		items := make([][]byte, n)
		starts := make([]int64, n)
		for i := 0; i < n; i++ {
			ioff := pageHeader + 2*i
			at := int(o.Uint16(p[ioff:]))
			if at < pageHeader+2*n || at >= prev {
				return nil, ferr(base+int64(ioff), "hash page %d: item %d at offset %d is outside %d..%d", pg, i, at, pageHeader+2*n, prev)
			}
			items[i] = p[at:prev]
			starts[i] = base + int64(at)
			prev = at
		}
		for i := 0; i < n; i += 2 {
			k, err := r.item(items[i], starts[i], pg)
			if err != nil {
				return nil, err
			}
			v, err := r.item(items[i+1], starts[i+1], pg)
			if err != nil {
				return nil, err
			}
			out = append(out, Entry{Key: k, Value: v})
		}
		from = base + 16
		pg = o.Uint32(p[16:])
	}
	return out, nil
}

// item decodes one hash item found at file offset off on page pg.
func (r *reader) item(it []byte, off int64, pg uint32) ([]byte, error) {
	o := r.m.Order
	switch it[0] {
	case hKeyData:
		return bytes.Clone(it[1:]), nil
	case hOffPage:
		if len(it) < 12 {
			return nil, ferr(off, "page %d: off-page item of %d bytes, want 12", pg, len(it))
		}
		return r.overflow(o.Uint32(it[4:]), o.Uint32(it[8:]), off)
	case hDuplicate, hOffDup:
		return nil, ferr(off, "page %d: duplicate items (type %d) are not used by sasldb", pg, it[0])
	case hBlob:
		return nil, ferr(off, "page %d: external blob items are not supported", pg)
	default:
		return nil, ferr(off, "page %d: unknown item type %d", pg, it[0])
	}
}

// overflow reads tlen bytes from the overflow chain starting at page pg;
// off is the file offset of the item that points to it.
func (r *reader) overflow(pg, tlen uint32, off int64) ([]byte, error) {
	o := r.m.Order
	if tlen > maxItem {
		return nil, ferr(off+8, "off-page item of %d bytes is too long", tlen)
	}
	out := make([]byte, 0, tlen)
	seen := map[uint32]bool{}
	for uint32(len(out)) < tlen {
		if pg == 0 || pg > r.m.LastPgno {
			return nil, ferr(off, "overflow chain: page %d outside 1..%d with %d of %d bytes read", pg, r.m.LastPgno, len(out), tlen)
		}
		if seen[pg] {
			return nil, ferr(off, "overflow chain loops back to page %d", pg)
		}
		seen[pg] = true
		p := r.page(pg)
		base := int64(pg) * r.ps
		if p == nil {
			return nil, ferr(base, "overflow page %d beyond the end of the file (%d bytes)", pg, len(r.data))
		}
		if p[25] != pOverflow {
			return nil, ferr(base+25, "page %d has type %d, not overflow (%d)", pg, p[25], pOverflow)
		}
		if got := o.Uint32(p[8:]); got != pg {
			return nil, ferr(base+8, "page %d says it is page %d", pg, got)
		}
		n := int(o.Uint16(p[22:]))
		if n == 0 || pageHeader+n > len(p) || uint32(len(out)+n) > tlen {
			return nil, ferr(base+22, "overflow page %d holds %d bytes (page %d, %d of %d read)", pg, n, len(p), len(out), tlen)
		}
		out = append(out, p[pageHeader:pageHeader+n]...)
		off = base + 16
		pg = o.Uint32(p[16:])
	}
	return out, nil
}
