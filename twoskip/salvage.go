package twoskip

import (
	"bytes"
	"fmt"
	"io"
	"slices"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/fileio"
)

// SalvageOptions tune Salvage. A nil *SalvageOptions is the zero value.
type SalvageOptions struct {
	// Repack says the file is the "<db>.NEW" a Cyrus repack writes before
	// it renames it over the database. A repack copies every committed
	// record, in key order, into one transaction whose COMMIT comes last;
	// a .NEW cut before that COMMIT (a crash during the repack) then still
	// holds complete copies of committed records. With Repack, Salvage
	// returns the complete (CRC-checked) records of such an unfinished
	// repack, each listed in Doubts: they are what was committed when the
	// repack began, and the database the repack was copying may have
	// changed since. Without it such a file yields no records, because the
	// bytes cannot tell an unfinished repack from a first transaction that
	// never committed.
	Repack bool
}

// Salvage recovers every intact committed record of a damaged twoskip file
// and lists the places it skipped. It does not follow pointers: it scans
// the records in file order (skipping BLANKs), replays each transaction
// that reached its COMMIT, and resynchronises after a damaged record at the
// next 8-aligned offset where a record with a valid head CRC starts.
// RECORD sets its key; DELETE names only the deleted record's successor, so
// the deleted key is the one just before that successor in the state
// replayed so far (the last key when the successor is 0). A record whose
// head is intact but whose key/value CRC fails is skipped and listed, as is
// a DELETE whose successor cannot be read. Records of a transaction without
// a COMMIT are dropped and listed once, with two exceptions: when the file
// is shorter than the committed size its (CRC-valid) header states, the
// transaction the cut fell into had committed, so its complete records
// before the cut are kept (this recovers a file cut inside the repack that
// starts it); and see SalvageOptions.Repack. fn gets the result in key
// order (raw memcmp). Memory holds every live key (not the values).
//
// Every record returned is exactly one Cyrus committed, but a file cut
// short may have lost later writes that deleted or replaced it. Cyrus
// rewrites the pointers of earlier records in place with every write, and
// the level-0 pointers below the committed size describe the committed
// list, so a returned record those pointers (followed from the DUMMY) do
// not reach is listed in Doubts with why.
func Salvage(r io.ReaderAt, size int64, opts *SalvageOptions, fn func(key, value []byte) error) (cyrusdb.Salvaged, error) {
	if opts == nil {
		opts = &SalvageOptions{}
	}
	var out cyrusdb.Salvaged
	db := &DB{size: size, cmp: cyrusdb.CompareRaw}
	db.src = fileio.NewSrc(r, size)
	skip := func(off int64, format string, args ...any) {
		out.Skipped = append(out.Skipped, cyrusdb.Skipped{Offset: off, Why: fmt.Sprintf(format, args...)})
	}
	hdr, herr := readHeader(db.src)
	if herr != nil {
		skip(0, "header: %v", herr)
	}
	committed := int64(0) // the committed size the header states, if it is readable
	if herr == nil && hdr.CurrentSize >= firstRecord && hdr.CurrentSize <= 1<<62 {
		committed = int64(hdr.CurrentSize)
	}
	var (
		keys    []string             // live keys, sorted
		where   = map[string]int64{} // key → RECORD offset
		pending []op
		txnAt   int64 = -1
		commits int
		firstAt int64 = -1 // the first record after the DUMMY
	)
	find := func(k string) (int, bool) { return slices.BinarySearch(keys, k) }
	apply := func(o op) {
		if !o.del {
			if i, ok := find(o.key); !ok {
				keys = slices.Insert(keys, i, o.key)
			}
			where[o.key] = o.off
			return
		}
		var i int
		if o.off == 0 {
			i = len(keys)
		} else {
			succ, err := db.readRecord(o.off, size, true)
			if err != nil || succ.typ != typeRecord {
				skip(o.at, "DELETE: its successor at 0x%X is unreadable, deleted key unknown", o.off)
				return
			}
			i, _ = find(string(succ.key))
		}
		if i == 0 {
			skip(o.at, "DELETE: no key before its successor in the replayed state")
			return
		}
		delete(where, keys[i-1])
		keys = slices.Delete(keys, i-1, i)
	}
	off := int64(firstRecord)
	resync := false
	for off+minRecord <= size {
		if b, err := db.src.At(off, 8); err == nil && bytes.Equal(b, blank[:]) {
			off += 8
			continue
		}
		rec, err := db.readRecord(off, size, false)
		if err == nil && rec.typ == typeDummy {
			err = corrupt(off, "DUMMY record after the header")
		}
		if err != nil {
			if !resync {
				skip(off, "%v", trimPrefix(err))
				resync = true
			}
			off += align
			continue
		}
		resync = false
		if txnAt < 0 {
			txnAt = off
		}
		if firstAt < 0 {
			firstAt = off
		}
		switch rec.typ {
		case typeRecord:
			if _, err := db.readRecord(off, size, true); err != nil {
				skip(off, "%v", trimPrefix(err))
			} else if len(rec.key) == 0 {
				skip(off, "RECORD with an empty key")
			} else {
				pending = append(pending, op{off: off, at: off, key: string(rec.key)})
			}
		case typeDelete:
			pending = append(pending, op{off: int64(rec.slot(0)), del: true, at: off})
		case typeCommit:
			for _, o := range pending {
				apply(o)
			}
			pending, txnAt = pending[:0], -1
			commits++
		}
		off += rec.size
	}
	if off < size && !resync {
		skip(off, "%d trailing bytes too short for a record", size-off)
	}
	if committed > size {
		skip(size, "the file is cut: the header says 0x%X bytes are committed, the file has 0x%X", committed, size)
	}
	repackAt := map[int64]bool{} // records kept from an unfinished repack
	cutTxn := map[int64]bool{}   // records of a committed transaction cut short
	if len(pending) > 0 {
		switch {
		case committed > size && txnAt < committed:
			// The header was written after this transaction's COMMIT. A
			// repack writes each key once, so each of its records is
			// what it committed; any other transaction may have replaced
			// a record later on, past the cut, so only those the
			// committed pointers reach are kept.
			isRepack := int64(hdr.RepackSize) > firstRecord && txnAt == firstAt && repackShape(pending, 0, txnAt, firstAt) == ""
			n := 0
			for _, o := range pending {
				if o.at >= committed {
					continue
				}
				apply(o)
				if !isRepack && !o.del {
					cutTxn[o.off] = true
				}
				n++
			}
			what := "transaction"
			if isRepack {
				what = "repack"
			}
			skip(txnAt, "the %s here committed (the header's committed size 0x%X is past it) but the file is cut inside it: its %d complete record(s) before the cut are kept, what it wrote after the cut is lost", what, committed, n)
		case opts.Repack:
			if why := repackShape(pending, commits, txnAt, firstAt); why != "" {
				skip(txnAt, "%d record(s) of a transaction without COMMIT dropped: not an unfinished repack (%s)", len(pending), why)
				break
			}
			for _, o := range pending {
				apply(o)
				repackAt[o.off] = true
			}
			skip(txnAt, "unfinished repack (no COMMIT): its %d complete record(s) are kept as possibly stale copies", len(pending))
		default:
			skip(txnAt, "%d record(s) of a transaction without COMMIT dropped (uncommitted)", len(pending))
		}
	}
	end := size
	if committed > 0 {
		end = committed
	}
	lw := db.reach(size, end)
	for _, k := range keys {
		rec, err := db.readRecord(where[k], size, true)
		if err != nil {
			return out, err
		}
		switch {
		case cutTxn[where[k]] && !lw.reached[where[k]]:
			skip(where[k], "RECORD of key %q left out: its transaction is cut short and the committed pointers do not reach it, so a later write in the same transaction may have replaced it", clipKey(k))
			continue
		case repackAt[where[k]]:
			out.Doubts = append(out.Doubts, cyrusdb.Doubt{Offset: where[k], Key: []byte(k), Why: "copied by an unfinished repack: it is what Cyrus had committed when the repack began, and the database may have changed since"})
		default:
			if why := lw.doubt(db, k, where[k]); why != "" {
				out.Doubts = append(out.Doubts, cyrusdb.Doubt{Offset: where[k], Key: []byte(k), Why: why})
			}
		}
		if err := fn(rec.key, rec.val); err != nil {
			return out, err
		}
	}
	return out, nil
}

// repackShape says why the uncommitted transaction is not what a cut
// repack leaves, or "": a repack is the only transaction of its file,
// starts at the first record and holds only RECORDs in strictly increasing
// key order.
func repackShape(pending []op, commits int, txnAt, firstAt int64) string {
	if commits > 0 {
		return "the file holds a COMMIT"
	}
	if txnAt != firstAt {
		return "it does not start at the first record"
	}
	for i, o := range pending {
		if o.del {
			return "it holds a DELETE"
		}
		if i > 0 && pending[i-1].key >= o.key {
			return "its keys are not in increasing order"
		}
	}
	return ""
}

// listWalk is what the committed list pointers say: the RECORDs they reach
// and, for each, what its level-0 successor is.
type listWalk struct {
	reached map[int64]bool
	nodes   []string // reached RECORD keys, in key order
	next    []walkNext
	head    walkNext // the DUMMY's level-0 successor
	cutAt   int64    // first pointer past the end of the file, or 0
	headOK  bool
}

// walkNext is a level-0 successor: key "" with ok is the end of the list;
// !ok is a successor lost past a cut or damaged.
type walkNext struct {
	key string
	ok  bool
}

// recordEnd is where the record at off ends by its length fields.
func (db *DB) recordEnd(off int64) (int64, bool) {
	b, err := db.src.At(off, 8)
	if err != nil {
		return 0, false
	}
	level := int64(b[1])
	klen, vlen := uint64(be.Uint16(b[2:])), uint64(be.Uint32(b[4:]))
	h := int64(8)
	if klen == keyLenEscape || vlen == valLenEscape {
		return 0, false // long lengths: not needed to tell a cut
	}
	if klen+vlen > 1<<40 {
		return 0, false
	}
	return off + h + 8*(level+1) + 8 + r8(int64(klen+vlen)), true
}

// reach follows the committed pointers (the level-0 rule with end, and the
// higher levels below end) from the DUMMY through every record inside the
// file that they reach.
func (db *DB) reach(size, end int64) *listWalk {
	w := &listWalk{reached: map[int64]bool{}}
	target := func(p int64) (record, bool) {
		if p < firstRecord || p%align != 0 || p >= end {
			return record{}, false
		}
		if p+8 > size {
			if w.cutAt == 0 {
				w.cutAt = p
			}
			return record{}, false
		}
		rec, err := db.readRecord(p, size, false)
		if err != nil {
			if e, ok := db.recordEnd(p); ok && e > size && w.cutAt == 0 {
				w.cutAt = p
			}
			return record{}, false
		}
		if rec.typ != typeRecord && rec.typ != typeDelete {
			return record{}, false
		}
		return rec, true
	}
	// succ0 is the RECORD a level-0 pointer p leads to, through DELETEs.
	var queue []int64
	succ0 := func(p int64) walkNext {
		for hops := 0; ; hops++ {
			if p == 0 {
				return walkNext{ok: true}
			}
			rec, ok := target(p)
			if !ok || hops > 1<<20 {
				return walkNext{}
			}
			if rec.typ == typeRecord {
				if !w.reached[p] {
					w.reached[p] = true
					queue = append(queue, p)
				}
				return walkNext{key: string(rec.key), ok: true}
			}
			next := int64(rec.slot(0))
			if next != 0 && next >= p {
				return walkNext{} // a DELETE names an earlier record
			}
			p = next
		}
	}
	visit := func(rec *record) walkNext {
		var nx walkNext
		if p, err := next0(rec, end); err == nil {
			nx = succ0(p)
		}
		for i := 2; i <= rec.level; i++ {
			if p := int64(rec.slot(i)); p != 0 {
				if t, ok := target(p); ok && t.typ == typeRecord && !w.reached[p] {
					w.reached[p] = true
					queue = append(queue, p)
				}
			}
		}
		return nx
	}
	d, err := db.readRecord(dummyOffset, size, false)
	if err != nil || d.typ != typeDummy {
		return w
	}
	w.headOK = true
	w.head = visit(&d)
	type item struct {
		key  string
		next walkNext
	}
	var items []item
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		rec, err := db.readRecord(p, size, false)
		if err != nil {
			continue
		}
		k := string(rec.key)
		items = append(items, item{key: k, next: visit(&rec)})
	}
	slices.SortFunc(items, func(a, b item) int { return db.cmp([]byte(a.key), []byte(b.key)) })
	for _, it := range items {
		w.nodes = append(w.nodes, it.key)
		w.next = append(w.next, it.next)
	}
	return w
}

// doubt says why the record of key k at off cannot be proven current, or
// "" when the committed pointers reach it.
func (w *listWalk) doubt(db *DB, k string, off int64) string {
	if w.reached[off] {
		return ""
	}
	if !w.headOK {
		return "the list head (DUMMY) is damaged, so the list cannot confirm it"
	}
	i, _ := slices.BinarySearchFunc(w.nodes, k, func(a, b string) int { return db.cmp([]byte(a), []byte(b)) })
	nx := w.head
	if i > 0 {
		nx = w.next[i-1]
	}
	if nx.ok && (nx.key == "" || db.cmp([]byte(k), []byte(nx.key)) < 0) {
		return "the committed list pointers skip it: a write the file no longer holds (lost past a cut) deleted or replaced it"
	}
	if w.cutAt > 0 {
		return "its part of the list is lost past the end of the file: a write lost with the cut may have deleted or replaced it"
	}
	return "its part of the list is damaged: a damaged write may have deleted or replaced it"
}

// op is one replayed change of the scan.
type op struct {
	off int64 // RECORD offset, or DELETE's successor
	del bool
	at  int64 // where the op is
	bad bool
	key string
}

func trimPrefix(err error) string {
	if ce, ok := err.(*cyrusdb.CorruptError); ok {
		return ce.What
	}
	return err.Error()
}

func clipKey(k string) string {
	if len(k) > 80 {
		return k[:77] + "..."
	}
	return k
}
