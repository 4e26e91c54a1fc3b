package twoskip

import (
	"bytes"
	"fmt"
	"io"
	"slices"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/cyrusdb/fileio"
)

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
// a COMMIT are dropped and listed once. fn gets the result in key order
// (raw memcmp). Memory holds every live key (not the values).
func Salvage(r io.ReaderAt, size int64, fn func(key, value []byte) error) ([]cyrusdb.Skipped, error) {
	db := &DB{size: size, cmp: cyrusdb.CompareRaw}
	db.src = fileio.NewSrc(r, size)
	var skipped []cyrusdb.Skipped
	skip := func(off int64, format string, args ...any) {
		skipped = append(skipped, cyrusdb.Skipped{Offset: off, Why: fmt.Sprintf(format, args...)})
	}
	if _, err := readHeader(db.src); err != nil {
		skip(0, "header: %v", err)
	}
	type op struct {
		off int64 // RECORD offset, or DELETE's successor
		del bool
		at  int64 // where the op is
		bad bool
		key string
	}
	var (
		keys    []string             // live keys, sorted
		where   = map[string]int64{} // key → RECORD offset
		pending []op
		txnAt   int64 = -1
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
		}
		off += rec.size
	}
	if off < size && !resync {
		skip(off, "%d trailing bytes too short for a record", size-off)
	}
	if len(pending) > 0 {
		skip(txnAt, "%d record(s) of a transaction without COMMIT dropped (uncommitted)", len(pending))
	}
	for _, k := range keys {
		rec, err := db.readRecord(where[k], size, true)
		if err != nil {
			return skipped, err
		}
		if err := fn(rec.key, rec.val); err != nil {
			return skipped, err
		}
	}
	return skipped, nil
}

func trimPrefix(err error) string {
	if ce, ok := err.(*cyrusdb.CorruptError); ok {
		return ce.What
	}
	return err.Error()
}
