package skiplist

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/fileio"
)

var be = binary.BigEndian

// Options tune a reader. A nil *Options is the zero value.
type Options struct {
	// Compare overrides the key order (default cyrusdb.CompareSigned, the
	// x86 C char order; cyrusdb.CompareRaw for files from platforms with
	// unsigned char, cyrusdb.CompareMbox for MBOXSORT files).
	Compare func(a, b []byte) int
}

// Header is the skiplist file header.
type Header struct {
	Version, VersionMinor uint32
	MaxLevel, CurLevel    uint32
	ListSize              uint32
	LogStart              uint32
	LastRecovery          uint32
}

// DB is an open skiplist file. It implements cyrusdb.Reader. A DB is not
// safe for concurrent use.
type DB struct {
	r     io.ReaderAt
	size  int64
	hdr   Header
	cmp   func(a, b []byte) int
	inord *fileio.Src // streams the INORDER section
	logs  *fileio.Src // reads log records
	// log holds the committed effect of the log per key: the offset of the
	// ADD that set it, or -1 when deleted.
	log     map[string]int64
	logKeys [][]byte // sorted with cmp
	tail    *cyrusdb.Tail
	f       *os.File
	path    string
	ident   fileio.Identity
}

var _ cyrusdb.Reader = (*DB)(nil)

func corrupt(off int64, format string, args ...any) *cyrusdb.CorruptError {
	return cyrusdb.Corruptf(cyrusdb.Skiplist, off, format, args...)
}

// Open opens the file at path read-only, without locks, and replays its
// log.
func Open(path string, opts *Options) (*DB, error) {
	db, f, id, err := fileio.OpenFile(path, func(r io.ReaderAt, size int64) (*DB, error) { return newDB(r, size, opts) })
	if err != nil {
		return nil, err
	}
	db.f, db.path, db.ident = f, path, id
	return db, nil
}

// NewReader reads a skiplist file from r, whose size is size. Close does
// not close r.
func NewReader(r io.ReaderAt, size int64, opts ...Options) (*DB, error) {
	var o *Options
	if len(opts) > 0 {
		o = &opts[0]
	}
	return newDB(r, size, o)
}

func newDB(r io.ReaderAt, size int64, opts *Options) (*DB, error) {
	db := &DB{r: r, size: size, inord: fileio.NewSrc(r, size), logs: fileio.NewSrc(r, size)}
	if opts != nil {
		db.cmp = opts.Compare
	}
	if db.cmp == nil {
		db.cmp = cyrusdb.CompareSigned
	}
	h, err := readHeader(db.logs)
	if err != nil {
		return nil, err
	}
	db.hdr = h
	if err := db.checkDummy(); err != nil {
		return nil, err
	}
	if err := db.replay(); err != nil {
		return nil, err
	}
	return db, nil
}

func readHeader(src *fileio.Src) (Header, error) {
	n := min(src.Size(), headerLen)
	b, err := src.At(0, n)
	if err != nil {
		return Header{}, err
	}
	if len(b) < len(cyrusdb.SkiplistMagic) || !bytes.Equal(b[:len(cyrusdb.SkiplistMagic)], cyrusdb.SkiplistMagic) {
		if len(b) < len(cyrusdb.SkiplistMagic) && bytes.HasPrefix(cyrusdb.SkiplistMagic, b) {
			return Header{}, corrupt(src.Size(), "file ends inside the %d-byte header", headerLen)
		}
		return Header{}, corrupt(0, "bad magic: not a skiplist file")
	}
	if n < headerLen {
		return Header{}, corrupt(src.Size(), "file ends inside the %d-byte header", headerLen)
	}
	h := Header{
		Version:      be.Uint32(b[offVersion:]),
		VersionMinor: be.Uint32(b[offMinor:]),
		MaxLevel:     be.Uint32(b[offMaxLevel:]),
		CurLevel:     be.Uint32(b[offCurLevel:]),
		ListSize:     be.Uint32(b[offListSize:]),
		LogStart:     be.Uint32(b[offLogStart:]),
		LastRecovery: be.Uint32(b[offRecovery:]),
	}
	switch {
	case h.Version != version:
		return h, corrupt(offVersion, "version %d not supported (want %d)", h.Version, version)
	case h.MaxLevel < 1 || h.MaxLevel > maxLevel:
		return h, corrupt(offMaxLevel, "maxlevel %d outside 1..%d", h.MaxLevel, maxLevel)
	case h.CurLevel > h.MaxLevel:
		return h, corrupt(offCurLevel, "curlevel %d above maxlevel %d", h.CurLevel, h.MaxLevel)
	case int64(h.LogStart) > src.Size():
		return h, corrupt(offLogStart, "logstart %d is past the end of the file (%d bytes): truncated", h.LogStart, src.Size())
	case h.LogStart%4 != 0 || int64(h.LogStart) < dummyOffset+4*(3+int64(h.MaxLevel)+1):
		return h, corrupt(offLogStart, "logstart %d is not a record boundary after the DUMMY", h.LogStart)
	}
	return h, nil
}

// Format returns cyrusdb.Skiplist.
func (db *DB) Format() cyrusdb.Format { return cyrusdb.Skiplist }

// Header returns the file header.
func (db *DB) Header() Header { return db.hdr }

// Tail describes an uncommitted crash tail, or is nil.
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

// node is a parsed node record; key and val alias the Src's cache.
type node struct {
	off      int64
	typ      uint32
	key, val []byte
	levels   int
	size     int64
}

// truncErr marks a record that runs past the end of the file (a crash
// tail candidate).
type truncErr struct{ *cyrusdb.CorruptError }

func (t truncErr) Unwrap() error { return t.CorruptError }

// readNode parses the node record at off within [off, limit).
func (db *DB) readNode(src *fileio.Src, off, limit int64) (node, error) {
	n := node{off: off}
	trunc := func(what string) error {
		return truncErr{corrupt(off, "%s runs past the end of the file", what)}
	}
	if off+8 > limit {
		return n, trunc("record header")
	}
	b, err := src.At(off, 8)
	if err != nil {
		return n, db.ioErr(err, off)
	}
	n.typ = be.Uint32(b)
	if n.typ != typeInorder && n.typ != typeAdd && n.typ != typeDummy {
		return n, corrupt(off, "%s record (type %d) where a node record must be", typeName(n.typ), n.typ)
	}
	klen := int64(be.Uint32(b[4:]))
	if klen > limit-off {
		return n, trunc(fmt.Sprintf("key of %d bytes", klen))
	}
	doff := off + 8 + r4(klen)
	if doff+4 > limit {
		return n, trunc("data length")
	}
	b, err = src.At(doff, 4)
	if err != nil {
		return n, db.ioErr(err, off)
	}
	dlen := int64(be.Uint32(b))
	if dlen > limit-doff {
		return n, trunc(fmt.Sprintf("data of %d bytes", dlen))
	}
	poff := doff + 4 + r4(dlen)
	// Find the terminator: at most maxlevel pointers.
	maxp := int64(db.hdr.MaxLevel)
	avail := (limit - poff) / 4
	words := min(maxp+1, avail)
	if words < 1 {
		return n, trunc("pointers")
	}
	b, err = src.At(poff, 4*words)
	if err != nil {
		return n, db.ioErr(err, off)
	}
	lv := -1
	for i := int64(0); i < words; i++ {
		if be.Uint32(b[4*i:]) == terminator {
			lv = int(i)
			break
		}
	}
	if lv < 0 {
		if words < maxp+1 {
			return n, trunc("pointer list")
		}
		return n, corrupt(off, "%s record has no FFFFFFFF terminator after %d pointers", typeName(n.typ), maxp)
	}
	for i := 0; i < lv; i++ {
		// Every pointer is 0 or a 4-aligned offset past the DUMMY; a
		// missing terminator would otherwise swallow the next record.
		if p := be.Uint32(b[4*i:]); p != 0 && (p%4 != 0 || int64(p) < db.first()) {
			return n, corrupt(off, "pointer %d of the %s record is 0x%X, not a record offset (damaged record or missing terminator)", i, typeName(n.typ), p)
		}
	}
	if lv == 0 && n.typ != typeDummy {
		return n, corrupt(off, "%s record with no pointers (level 0)", typeName(n.typ))
	}
	n.levels = lv
	n.size = poff + 4*int64(lv) + 4 - off
	b, err = src.At(off, n.size)
	if err != nil {
		return n, db.ioErr(err, off)
	}
	n.key = b[8 : 8+klen]
	n.val = b[doff-off+4 : doff-off+4+dlen]
	return n, nil
}

func (db *DB) ioErr(err error, off int64) error {
	if errors.Is(err, fileio.ErrShort) {
		return &cyrusdb.ChangedError{Format: cyrusdb.Skiplist, Path: db.path, What: "file shrank while reading"}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return truncErr{corrupt(off, "record runs past the end of the file")}
	}
	return fmt.Errorf("skiplist: read at offset %d: %w", off, err)
}

func (db *DB) checkDummy() error {
	d, err := db.readNode(db.logs, dummyOffset, db.size)
	if err != nil {
		var te truncErr
		if errors.As(err, &te) {
			return te.CorruptError
		}
		return err
	}
	if d.typ != typeDummy || len(d.key) != 0 || len(d.val) != 0 || d.levels != int(db.hdr.MaxLevel) {
		return corrupt(dummyOffset, "%s record with key length %d, data length %d, %d pointers where the DUMMY (maxlevel %d pointers) must be",
			typeName(d.typ), len(d.key), len(d.val), d.levels, db.hdr.MaxLevel)
	}
	return nil
}

type op struct {
	key string
	off int64 // ADD offset, -1 for delete
}

// replay reads the log from logstart and keeps the committed effect.
func (db *DB) replay() error {
	db.log = map[string]int64{}
	var pending []op
	pendingOff := map[string]int64{} // key → live offset within the open txn (-1 deleted)
	size := db.size
	off := int64(db.hdr.LogStart)
	txnStart := off
	// The damage rule: bad bytes followed later by a COMMIT are damage,
	// otherwise they are the crash tail.
	stopAt := func(err error) error {
		var te truncErr
		if errors.As(err, &te) {
			if !db.commitAfter(off) {
				return nil // incomplete record at the end: crash tail
			}
			return te.CorruptError
		}
		var ce *cyrusdb.CorruptError
		if errors.As(err, &ce) && !db.commitAfter(off) {
			return nil
		}
		return err
	}
	var stopErr error
loop:
	for off < size {
		if off+4 > size {
			stopErr = stopAt(truncErr{corrupt(off, "partial word at the end of the file")})
			break
		}
		b, err := db.logs.At(off, 4)
		if err != nil {
			return db.ioErr(err, off)
		}
		typ := be.Uint32(b)
		switch typ {
		case 0:
			off += 4 // stray zero padding, tolerated by Cyrus
			continue
		case typeAdd:
			n, err := db.readNode(db.logs, off, size)
			if err != nil {
				stopErr = stopAt(err)
				break loop
			}
			if len(n.key) == 0 {
				stopErr = stopAt(corrupt(off, "ADD with an empty key"))
				break loop
			}
			pending = append(pending, op{string(n.key), off})
			pendingOff[string(n.key)] = off
			off += n.size
		case typeDelete:
			if off+deleteLen > size {
				stopErr = stopAt(truncErr{corrupt(off, "DELETE runs past the end of the file")})
				break loop
			}
			b, err := db.logs.At(off+4, 4)
			if err != nil {
				return db.ioErr(err, off)
			}
			target := int64(be.Uint32(b))
			if target < db.first() || target >= off || target%4 != 0 {
				stopErr = stopAt(corrupt(off, "DELETE names offset 0x%X, which is not an earlier record", target))
				break loop
			}
			n, err := db.readNode(db.logs, target, off)
			if err != nil || n.typ == typeDummy {
				stopErr = stopAt(corrupt(off, "DELETE names offset 0x%X, which is not an INORDER or ADD record", target))
				break loop
			}
			// The node named must be the key's live node at this point
			// (Cyrus deletes or replaces only live nodes): a DELETE of a
			// superseded or already deleted node is damage, not a delete.
			k := string(n.key)
			live, ok := pendingOff[k]
			if !ok {
				live, ok = db.log[k]
			}
			if (ok && live != target) || (!ok && target >= int64(db.hdr.LogStart)) {
				stopErr = stopAt(corrupt(off, "DELETE names the node at 0x%X, which is not the live record of its key", target))
				break loop
			}
			pending = append(pending, op{k, -1})
			pendingOff[k] = -1
			off += deleteLen
		case typeCommit:
			for _, p := range pending {
				db.log[p.key] = p.off
			}
			pending = pending[:0]
			clear(pendingOff)
			off += commitLen
			txnStart = off
		default:
			stopErr = stopAt(corrupt(off, "%s record (type %d) in the log", typeName(typ), typ))
			break loop
		}
	}
	if stopErr != nil {
		return stopErr
	}
	if off < size || len(pending) > 0 {
		note := fmt.Sprintf("%d record(s) of a transaction without COMMIT", len(pending))
		if off < size {
			note = fmt.Sprintf("%d record(s) of a transaction without COMMIT, then an incomplete or unreadable record at offset %d (0x%X)", len(pending), off, off)
		}
		db.tail = &cyrusdb.Tail{Offset: txnStart, Length: size - txnStart, Note: note}
	}
	db.logKeys = make([][]byte, 0, len(db.log))
	for k := range db.log {
		db.logKeys = append(db.logKeys, []byte(k))
	}
	slices.SortFunc(db.logKeys, db.cmp)
	return nil
}

// commitAfter reports whether a COMMIT record can follow off: the file's
// last word is COMMIT and lies past off. (Cyrus only appends whole
// transactions; a file whose last word is a COMMIT has committed data up
// to its end.)
func (db *DB) commitAfter(off int64) bool {
	if db.size%4 != 0 || db.size-4 <= off {
		return false
	}
	b, err := db.logs.At(db.size-4, 4)
	return err == nil && be.Uint32(b) == typeCommit
}

type userErr struct{ err error }

func (u userErr) Error() string { return u.err.Error() }

// Iterate calls fn for every committed record in key order.
func (db *DB) Iterate(fn func(key, value []byte) error) error {
	return db.IterateAt(func(_ int64, k, v []byte) error { return fn(k, v) })
}

// IterateAt is Iterate that also passes the file offset of each record
// (cyrusdb.OffsetIterator): the INORDER record, or the log record that
// holds the committed value.
func (db *DB) IterateAt(fn func(off int64, key, value []byte) error) error {
	err := db.iterate(func(off int64, k, v []byte) error {
		if err := fn(off, k, v); err != nil {
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
	var te truncErr
	if errors.As(err, &te) {
		return te.CorruptError
	}
	return err
}

func (db *DB) iterate(fn func(off int64, k, v []byte) error) error {
	li := 0
	// emitLog emits log entries whose key sorts before key (all when key is
	// nil), and reports whether the log holds key itself.
	emitLog := func(key []byte, all bool) (bool, error) {
		for li < len(db.logKeys) {
			lk := db.logKeys[li]
			c := 0
			if !all {
				c = db.cmp(lk, key)
				if c > 0 {
					return false, nil
				}
			}
			li++
			if off := db.log[string(lk)]; off >= 0 {
				n, err := db.readNode(db.logs, off, db.size)
				if err != nil {
					return false, err
				}
				if err := fn(n.off, n.key, n.val); err != nil {
					return false, err
				}
			}
			if c == 0 && !all {
				return true, nil
			}
		}
		return false, nil
	}
	var prev []byte
	first := true
	end := int64(db.hdr.LogStart)
	off := db.first()
	for off < end {
		n, err := db.readNode(db.inord, off, end)
		if err != nil {
			var te truncErr
			if errors.As(err, &te) {
				return corrupt(off, "INORDER record runs past logstart %d", end)
			}
			return err
		}
		if n.typ != typeInorder {
			return corrupt(off, "%s record inside the INORDER section (logstart %d)", typeName(n.typ), end)
		}
		if len(n.key) == 0 {
			return corrupt(off, "INORDER record with an empty key")
		}
		if !first && db.cmp(prev, n.key) >= 0 {
			return corrupt(off, "INORDER key %q is not after the previous key %q (damaged key or wrong comparator)", clip(n.key), clip(prev))
		}
		first = false
		prev = append(prev[:0], n.key...)
		off += n.size
		over, err := emitLog(prev, false)
		if err != nil {
			return err
		}
		if over {
			continue
		}
		// n.key/n.val alias db.inord; emitLog reads through db.logs only.
		if err := fn(n.off, n.key, n.val); err != nil {
			return err
		}
	}
	_, err := emitLog(nil, true)
	return err
}

// Get returns a copy of the committed value of key.
func (db *DB) Get(key []byte) ([]byte, error) {
	if off, ok := db.log[string(key)]; ok {
		if off < 0 {
			return nil, cyrusdb.ErrNotFound
		}
		n, err := db.readNode(db.logs, off, db.size)
		if err != nil {
			return nil, err
		}
		return bytes.Clone(append([]byte{}, n.val...)), nil
	}
	var val []byte
	found := false
	stop := errors.New("stop")
	err := db.Iterate(func(k, v []byte) error {
		c := db.cmp(k, key)
		if c == 0 {
			val, found = append([]byte{}, v...), true
		}
		if c >= 0 {
			return stop
		}
		return nil
	})
	if err != nil && err != stop {
		return nil, err
	}
	if !found {
		return nil, cyrusdb.ErrNotFound
	}
	return val, nil
}

func (db *DB) changed() error {
	if db.f == nil {
		return nil
	}
	if what := fileio.PathChanged(db.path, db.f, db.ident); what != "" {
		return &cyrusdb.ChangedError{Format: cyrusdb.Skiplist, Path: db.path, What: what}
	}
	return nil
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// first is the offset just past the DUMMY (144 for maxlevel 20).
func (db *DB) first() int64 { return dummyOffset + 4*(3+int64(db.hdr.MaxLevel)+1) }
