package twoskip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/fileio"
)

var be = binary.BigEndian

// Options tune a reader. A nil *Options is the zero value.
type Options struct {
	// SkipTailCRC skips the check of the CRC over key and value (Cyrus's
	// CYRUSDB_NOCRC does the same). Head CRCs are always checked.
	SkipTailCRC bool
	// Compare overrides the key order checked along level 0 (default raw
	// memcmp; cyrusdb.CompareMbox for files written with MBOXSORT).
	Compare func(a, b []byte) int
}

// Header is the twoskip file header.
type Header struct {
	Version     uint32
	Generation  uint64
	NumRecords  uint64
	RepackSize  uint64
	CurrentSize uint64
	Flags       uint32
}

// Dirty reports whether a write transaction was open when the header was
// last written.
func (h Header) Dirty() bool { return h.Flags&flagDirty != 0 }

// DB is an open twoskip file. It implements cyrusdb.Reader. A DB is not
// safe for concurrent use.
type DB struct {
	src   *fileio.Src
	size  int64
	hdr   Header
	tail  *cyrusdb.Tail
	opts  Options
	cmp   func(a, b []byte) int
	f     *os.File
	path  string
	ident fileio.Identity
}

var _ cyrusdb.Reader = (*DB)(nil)

func corrupt(off int64, format string, args ...any) *cyrusdb.CorruptError {
	return cyrusdb.Corruptf(cyrusdb.Twoskip, off, format, args...)
}

// Open opens the file at path read-only, without locks.
func Open(path string, opts *Options) (*DB, error) {
	db, f, id, err := fileio.OpenFile(path, func(r io.ReaderAt, size int64) (*DB, error) { return newDB(r, size, opts) })
	if err != nil {
		return nil, err
	}
	db.f, db.path, db.ident = f, path, id
	return db, nil
}

// NewReader reads a twoskip file from r, whose size is size. Close does not
// close r.
func NewReader(r io.ReaderAt, size int64, opts ...Options) (*DB, error) {
	var o *Options
	if len(opts) > 0 {
		o = &opts[0]
	}
	return newDB(r, size, o)
}

func newDB(r io.ReaderAt, size int64, opts *Options) (*DB, error) {
	db := &DB{src: fileio.NewSrc(r, size), size: size}
	if opts != nil {
		db.opts = *opts
	}
	db.cmp = db.opts.Compare
	if db.cmp == nil {
		db.cmp = cyrusdb.CompareRaw
	}
	h, err := readHeader(db.src)
	if err != nil {
		return nil, err
	}
	db.hdr = h
	if h.CurrentSize < firstRecord {
		return nil, corrupt(offCurrent, "current_size %d is smaller than header and DUMMY (%d)", h.CurrentSize, firstRecord)
	}
	if h.CurrentSize > uint64(size) {
		return nil, corrupt(offCurrent, "current_size %d is past the end of the file (%d bytes): truncated", h.CurrentSize, size)
	}
	if h.CurrentSize%align != 0 {
		return nil, corrupt(offCurrent, "current_size %d is not a multiple of 8", h.CurrentSize)
	}
	if int64(h.CurrentSize) != size || h.Dirty() {
		note := "data past current_size: an uncommitted transaction"
		if h.Dirty() {
			note = "DIRTY flag set: a write transaction was open (crash or live writer)"
		}
		db.tail = &cyrusdb.Tail{Offset: int64(h.CurrentSize), Length: size - int64(h.CurrentSize), Note: note}
	}
	return db, nil
}

func readHeader(src *fileio.Src) (Header, error) {
	b, err := src.At(0, headerLen)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			if src.Size() >= int64(len(cyrusdb.TwoskipMagic)) {
				if b2, err2 := src.At(0, int64(len(cyrusdb.TwoskipMagic))); err2 == nil && !bytes.Equal(b2, cyrusdb.TwoskipMagic) {
					return Header{}, corrupt(0, "bad magic: not a twoskip file")
				}
			}
			return Header{}, corrupt(src.Size(), "file ends inside the %d-byte header", headerLen)
		}
		return Header{}, err
	}
	if !bytes.Equal(b[:len(cyrusdb.TwoskipMagic)], cyrusdb.TwoskipMagic) {
		return Header{}, corrupt(0, "bad magic: not a twoskip file")
	}
	h := Header{
		Version:     be.Uint32(b[offVersion:]),
		Generation:  be.Uint64(b[offGen:]),
		NumRecords:  be.Uint64(b[offNum:]),
		RepackSize:  be.Uint64(b[offRepack:]),
		CurrentSize: be.Uint64(b[offCurrent:]),
		Flags:       be.Uint32(b[offFlags:]),
	}
	if want, got := be.Uint32(b[offCRC:]), crc32.ChecksumIEEE(b[:offCRC]); want != got {
		return Header{}, corrupt(offCRC, "header crc32 mismatch (stored %#08x, computed %#08x)", want, got)
	}
	if h.Version != version {
		return Header{}, corrupt(offVersion, "version %d not supported (want %d)", h.Version, version)
	}
	return h, nil
}

// Format returns cyrusdb.Twoskip.
func (db *DB) Format() cyrusdb.Format { return cyrusdb.Twoskip }

// Header returns the file header as read at open.
func (db *DB) Header() Header { return db.hdr }

// Tail describes data past current_size, or is nil.
func (db *DB) Tail() *cyrusdb.Tail { return db.tail }

// Close closes the file if Open opened it. It is idempotent.
func (db *DB) Close() error {
	if db.f == nil {
		return nil
	}
	err := db.f.Close()
	db.f = nil
	return err
}

// record is one parsed record; key and val alias the read cache.
type record struct {
	off   int64
	typ   byte
	level int
	slots []byte // 8·(level+1) bytes
	key   []byte
	val   []byte
	size  int64
}

func (r *record) slot(i int) uint64 { return be.Uint64(r.slots[8*i:]) }

// readRecord parses and checks the record at off, which must lie below end.
func (db *DB) readRecord(off, end int64, checkTail bool) (record, error) {
	rec := record{off: off}
	if off%align != 0 {
		return rec, corrupt(off, "record offset not 8-aligned")
	}
	b, err := db.src.At(off, 8)
	if err != nil || off+8 > end {
		return rec, db.readErr(err, off, "record header past current_size %d", end)
	}
	rec.typ, rec.level = b[0], int(b[1])
	klen, vlen := uint64(be.Uint16(b[2:])), uint64(be.Uint32(b[4:]))
	h := int64(8)
	if klen == keyLenEscape || vlen == valLenEscape {
		n := int64(0)
		if klen == keyLenEscape {
			n += 8
		}
		if vlen == valLenEscape {
			n += 8
		}
		if off+8+n > end {
			return rec, corrupt(off, "%s length extension past current_size %d", typeName(rec.typ), end)
		}
		ext, err := db.src.At(off+8, n)
		if err != nil {
			return rec, db.readErr(err, off, "length extension past end of file")
		}
		if klen == keyLenEscape {
			klen, ext = be.Uint64(ext), ext[8:]
		}
		if vlen == valLenEscape {
			vlen = be.Uint64(ext)
		}
		h += n
	}
	switch rec.typ {
	case typeRecord:
		if rec.level < 1 || rec.level > maxLevel {
			return rec, corrupt(off, "RECORD level %d outside 1..%d", rec.level, maxLevel)
		}
	case typeDummy:
		if rec.level != maxLevel || klen != 0 || vlen != 0 {
			return rec, corrupt(off, "DUMMY with level %d, key length %d, value length %d", rec.level, klen, vlen)
		}
	case typeDelete, typeCommit:
		if rec.level != 0 || klen != 0 || vlen != 0 {
			return rec, corrupt(off, "%s with level %d, key length %d, value length %d", typeName(rec.typ), rec.level, klen, vlen)
		}
	default:
		return rec, corrupt(off, "unknown record type 0x%02X", rec.typ)
	}
	room := uint64(end - off)
	if klen > room || vlen > room {
		return rec, corrupt(off, "key length %d / value length %d past current_size %d", klen, vlen, end)
	}
	h += 8 * int64(rec.level+1)
	kv := r8(int64(klen + vlen))
	rec.size = h + 8 + kv
	if rec.size > end-off {
		return rec, corrupt(off, "%s of %d bytes runs past current_size %d", typeName(rec.typ), rec.size, end)
	}
	b, err = db.src.At(off, rec.size)
	if err != nil {
		return rec, db.readErr(err, off, "record past end of file")
	}
	if want, got := be.Uint32(b[h:]), crc32.ChecksumIEEE(b[:h]); want != got {
		return rec, corrupt(off, "head crc32 mismatch (stored %#08x, computed %#08x)", want, got)
	}
	if checkTail {
		if want, got := be.Uint32(b[h+4:]), crc32.ChecksumIEEE(b[h+8:]); want != got {
			return rec, corrupt(off, "tail crc32 mismatch (stored %#08x, computed %#08x): key or value damaged", want, got)
		}
	}
	rec.slots = b[h-8*int64(rec.level+1) : h]
	rec.key = b[h+8 : h+8+int64(klen)]
	rec.val = b[h+8+int64(klen) : h+8+int64(klen+vlen)]
	return rec, nil
}

func (db *DB) readErr(err error, off int64, format string, args ...any) error {
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt(off, format, args...)
	}
	if errors.Is(err, fileio.ErrShort) {
		return &cyrusdb.ChangedError{Format: cyrusdb.Twoskip, Path: db.path, What: "file shrank while reading"}
	}
	return fmt.Errorf("twoskip: read at offset %d: %w", off, err)
}

// next0 applies the level-0 dual-pointer rule to slot[0] and slot[1].
func next0(rec *record, end int64) (int64, error) {
	s0, s1 := rec.slot(0), rec.slot(1)
	e := uint64(end)
	switch {
	case s0 >= e && s1 >= e:
		return 0, corrupt(rec.off, "both level-0 pointers (0x%X, 0x%X) at or past current_size 0x%X", s0, s1, end)
	case s0 >= e:
		return int64(s1), nil
	case s1 >= e:
		return int64(s0), nil
	}
	return int64(max(s0, s1)), nil
}

// checkPtr checks a pointer that is about to be followed.
func checkPtr(from int64, p, end int64) error {
	if p < firstRecord || p >= end || p%align != 0 {
		return corrupt(from, "pointer 0x%X outside the records (0x%X..0x%X) or not 8-aligned", p, firstRecord, end)
	}
	return nil
}

// walk calls fn for every committed record along level 0.
func (db *DB) walk(fn func(rec *record) error) error {
	end := int64(db.hdr.CurrentSize)
	d, err := db.readRecord(dummyOffset, end, true)
	if err != nil {
		return err
	}
	if d.typ != typeDummy {
		return corrupt(dummyOffset, "%s where the DUMMY must be", typeName(d.typ))
	}
	next, err := next0(&d, end)
	if err != nil {
		return err
	}
	from := int64(dummyOffset)
	var prev []byte
	prevOff := int64(-1)
	count := uint64(0)
	steps, maxSteps := int64(0), end/minRecord+1
	var rec record // one variable: fn gets a pointer to it
	for next != 0 {
		if steps++; steps > maxSteps {
			return corrupt(from, "pointer loop: more than %d steps along level 0", maxSteps)
		}
		if err := checkPtr(from, next, end); err != nil {
			return err
		}
		rec, err = db.readRecord(next, end, !db.opts.SkipTailCRC)
		if err != nil {
			return err
		}
		switch rec.typ {
		case typeDelete:
			p := int64(rec.slot(0))
			if p >= rec.off {
				return corrupt(rec.off, "DELETE points forward to 0x%X (pointer loop)", p)
			}
			from, next = rec.off, p
			continue
		case typeRecord:
		default:
			return corrupt(from, "level-0 pointer reaches a %s record at 0x%X", typeName(rec.typ), rec.off)
		}
		if rec.off == prevOff {
			return corrupt(from, "record at 0x%X reached again (pointer loop)", rec.off)
		}
		if len(rec.key) == 0 {
			return corrupt(rec.off, "RECORD with an empty key")
		}
		if prevOff >= 0 && db.cmp(prev, rec.key) >= 0 {
			return corrupt(rec.off, "key %q is not after the previous key %q (key order broken or pointer loop)", clip(rec.key), clip(prev))
		}
		count++
		if err := fn(&rec); err != nil {
			return err
		}
		prev = append(prev[:0], rec.key...)
		prevOff = rec.off
		if next, err = next0(&rec, end); err != nil {
			return err
		}
		from = rec.off
	}
	if count != db.hdr.NumRecords {
		return corrupt(offNum, "header says %d records but level 0 holds %d", db.hdr.NumRecords, count)
	}
	return nil
}

type userErr struct{ err error }

func (u userErr) Error() string { return u.err.Error() }

// Iterate calls fn for every committed record in key order.
func (db *DB) Iterate(fn func(key, value []byte) error) error {
	return db.IterateAt(func(_ int64, k, v []byte) error { return fn(k, v) })
}

// IterateAt is Iterate that also passes the file offset of each record
// (cyrusdb.OffsetIterator), so that a value found bad can be located.
func (db *DB) IterateAt(fn func(off int64, key, value []byte) error) error {
	err := db.walk(func(rec *record) error {
		if err := fn(rec.off, rec.key, rec.val); err != nil {
			return userErr{err}
		}
		return nil
	})
	var ue userErr
	if errors.As(err, &ue) {
		return ue.err
	}
	if cerr := db.changed(); cerr != nil {
		return cerr
	}
	return err
}

// Get returns a copy of the committed value of key. On a clean file it
// descends the skip levels (O(log n) records read); on a file with an
// uncommitted tail the higher levels may already skip records whose delete
// never committed, so it walks level 0 only.
func (db *DB) Get(key []byte) ([]byte, error) {
	val, err := db.get(key)
	if cerr := db.changed(); cerr != nil {
		return nil, cerr
	}
	return val, err
}

func (db *DB) get(key []byte) ([]byte, error) {
	end := int64(db.hdr.CurrentSize)
	cur, err := db.readRecord(dummyOffset, end, true)
	if err != nil {
		return nil, err
	}
	if cur.typ != typeDummy {
		return nil, corrupt(dummyOffset, "%s where the DUMMY must be", typeName(cur.typ))
	}
	slots := append([]byte(nil), cur.slots...)
	level := maxLevel
	var curKey []byte
	if db.tail == nil {
		for k := maxLevel - 1; k >= 1; k-- {
			for k < level {
				p := int64(be.Uint64(slots[8*(k+1):]))
				if p == 0 {
					break
				}
				if err := checkPtr(cur.off, p, end); err != nil {
					return nil, err
				}
				r, err := db.readRecord(p, end, !db.opts.SkipTailCRC)
				if err != nil {
					return nil, err
				}
				if r.typ != typeRecord {
					return nil, corrupt(cur.off, "level-%d pointer reaches a %s record at 0x%X", k, typeName(r.typ), p)
				}
				if curKey != nil && db.cmp(curKey, r.key) >= 0 {
					return nil, corrupt(p, "key %q is not after %q along level %d (key order broken or pointer loop)", clip(r.key), clip(curKey), k)
				}
				if db.cmp(r.key, key) >= 0 {
					break
				}
				cur, level = r, r.level
				slots = append(slots[:0], r.slots...)
				curKey = append(curKey[:0], r.key...)
			}
		}
	}
	// Level 0 from cur.
	cur.slots = slots
	next, err := next0(&cur, end)
	if err != nil {
		return nil, err
	}
	from := cur.off
	steps, maxSteps := int64(0), end/minRecord+1
	for next != 0 {
		if steps++; steps > maxSteps {
			return nil, corrupt(from, "pointer loop: more than %d steps along level 0", maxSteps)
		}
		if err := checkPtr(from, next, end); err != nil {
			return nil, err
		}
		r, err := db.readRecord(next, end, !db.opts.SkipTailCRC)
		if err != nil {
			return nil, err
		}
		switch r.typ {
		case typeDelete:
			p := int64(r.slot(0))
			if p >= r.off {
				return nil, corrupt(r.off, "DELETE points forward to 0x%X (pointer loop)", p)
			}
			from, next = r.off, p
			continue
		case typeRecord:
		default:
			return nil, corrupt(from, "level-0 pointer reaches a %s record at 0x%X", typeName(r.typ), r.off)
		}
		if curKey != nil && db.cmp(curKey, r.key) >= 0 {
			return nil, corrupt(r.off, "key %q is not after the previous key %q (key order broken or pointer loop)", clip(r.key), clip(curKey))
		}
		switch c := db.cmp(r.key, key); {
		case c == 0:
			return append([]byte{}, r.val...), nil
		case c > 0:
			return nil, cyrusdb.ErrNotFound
		}
		curKey = append(curKey[:0], r.key...)
		if next, err = next0(&r, end); err != nil {
			return nil, err
		}
		from = r.off
	}
	return nil, cyrusdb.ErrNotFound
}

// changed checks, for a file opened by path, whether it changed since Open.
func (db *DB) changed() error {
	if db.f == nil {
		return nil
	}
	what := fileio.PathChanged(db.path, db.f, db.ident)
	if what == "" {
		b := make([]byte, headerLen)
		if _, err := db.f.ReadAt(b, 0); err != nil {
			what = "header unreadable: " + err.Error()
		} else if g, c, fl := be.Uint64(b[offGen:]), be.Uint64(b[offCurrent:]), be.Uint32(b[offFlags:]); g != db.hdr.Generation || c != db.hdr.CurrentSize || fl != db.hdr.Flags {
			what = fmt.Sprintf("generation %d→%d, current_size %d→%d, flags %d→%d", db.hdr.Generation, g, db.hdr.CurrentSize, c, db.hdr.Flags, fl)
		}
	}
	if what == "" {
		return nil
	}
	return &cyrusdb.ChangedError{Format: cyrusdb.Twoskip, Path: db.path, What: what}
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
