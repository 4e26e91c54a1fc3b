package skiplist

import (
	"fmt"
	"io"
	"slices"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/cyrusdb/fileio"
)

// Salvage recovers every intact committed record of a damaged skiplist file
// and lists the places it skipped. It scans the file in order from the end
// of the DUMMY: INORDER records are taken as committed (one whose key
// breaks the order with its neighbours is skipped as damaged), ADD and
// DELETE records are replayed per transaction at their COMMIT, zero words
// are skipped, and after damage the scan resynchronises at the next 4-byte
// boundary where a well-formed node record (or a DELETE naming one) starts.
// A transaction without COMMIT is dropped and listed. fn gets the result in
// signed-char order. Memory holds every live key (not the values).
func Salvage(r io.ReaderAt, size int64, fn func(key, value []byte) error) ([]cyrusdb.Skipped, error) {
	db := &DB{r: r, size: size, cmp: cyrusdb.CompareSigned, inord: fileio.NewSrc(r, size), logs: fileio.NewSrc(r, size)}
	var skipped []cyrusdb.Skipped
	skip := func(off int64, format string, args ...any) {
		skipped = append(skipped, cyrusdb.Skipped{Offset: off, Why: fmt.Sprintf(format, args...)})
	}
	h, err := readHeader(db.logs)
	if err != nil {
		skip(0, "header: %v", trimPrefix(err))
		h = Header{Version: version, MaxLevel: maxLevel}
	}
	db.hdr = h
	state := map[string]int64{} // key → node offset
	type op struct {
		key string
		off int64 // -1 delete
	}
	var pending []op
	txnAt := int64(-1)
	// INORDER order check over the last two accepted keys.
	var prevKey, prev2Key []byte
	prevOff := int64(-1)
	off := int64(dummyOffset + 4*(3+int64(h.MaxLevel)+1))
	resync := false
	damaged := func(e error) {
		if !resync {
			skip(off, "%v", trimPrefix(e))
			resync = true
		}
		off += 4
	}
	for off+4 <= size {
		b, err := db.logs.At(off, 4)
		if err != nil {
			return skipped, err
		}
		typ := be.Uint32(b)
		switch typ {
		case 0:
			off += 4
			continue
		case typeInorder, typeAdd:
			n, err := db.readNode(db.logs, off, size)
			if err != nil {
				damaged(err)
				continue
			}
			if len(n.key) == 0 {
				damaged(corrupt(off, "%s with an empty key", typeName(typ)))
				continue
			}
			resync = false
			if typ == typeInorder {
				shift := true
				switch {
				case prevOff < 0 || db.cmp(prevKey, n.key) < 0:
				case prev2Key != nil && db.cmp(prev2Key, n.key) < 0:
					// The previous key was the odd one out.
					skip(prevOff, "INORDER key %q breaks the key order (damaged key)", clip(prevKey))
					delete(state, string(prevKey))
					shift = false
				default:
					skip(off, "INORDER key %q breaks the key order (damaged key)", clip(n.key))
					off += n.size
					continue
				}
				if shift && prevOff >= 0 {
					prev2Key = append(prev2Key[:0], prevKey...)
				}
				prevKey, prevOff = append(prevKey[:0], n.key...), off
				state[string(n.key)] = off
			} else {
				if txnAt < 0 {
					txnAt = off
				}
				pending = append(pending, op{string(n.key), off})
			}
			off += n.size
		case typeDelete:
			if off+deleteLen > size {
				damaged(corrupt(off, "DELETE runs past the end of the file"))
				continue
			}
			b, err := db.logs.At(off+4, 4)
			if err != nil {
				return skipped, err
			}
			target := int64(be.Uint32(b))
			var n node
			if target >= db.first() && target < off && target%4 == 0 {
				n, err = db.readNode(db.logs, target, off)
			} else {
				err = corrupt(off, "DELETE names offset 0x%X, not an earlier record", target)
			}
			if err == nil && n.typ == typeDummy {
				err = corrupt(off, "DELETE names the DUMMY")
			}
			if err != nil {
				damaged(err)
				continue
			}
			resync = false
			if txnAt < 0 {
				txnAt = off
			}
			pending = append(pending, op{string(n.key), -1})
			off += deleteLen
		case typeCommit:
			if resync {
				off += 4
				continue
			}
			for _, p := range pending {
				if p.off < 0 {
					delete(state, p.key)
				} else {
					state[p.key] = p.off
				}
			}
			pending, txnAt = pending[:0], -1
			off += commitLen
		default:
			damaged(corrupt(off, "unknown record type %d", typ))
		}
	}
	if off < size && !resync {
		skip(off, "%d trailing bytes", size-off)
	}
	if len(pending) > 0 {
		skip(txnAt, "%d record(s) of a transaction without COMMIT dropped (uncommitted)", len(pending))
	}
	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return db.cmp([]byte(a), []byte(b)) })
	for _, k := range keys {
		n, err := db.readNode(db.logs, state[k], size)
		if err != nil {
			return skipped, err
		}
		if err := fn(n.key, n.val); err != nil {
			return skipped, err
		}
	}
	return skipped, nil
}

func trimPrefix(err error) string {
	var te truncErr
	if e, ok := err.(truncErr); ok {
		te = e
		return te.What
	}
	if ce, ok := err.(*cyrusdb.CorruptError); ok {
		return ce.What
	}
	return err.Error()
}
