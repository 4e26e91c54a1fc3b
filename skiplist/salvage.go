package skiplist

import (
	"fmt"
	"io"
	"slices"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/fileio"
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
//
// Every record returned is exactly one a transaction in the file committed,
// but a file cut short (or ending in a transaction without COMMIT) may have
// lost later writes that deleted or replaced it. Cyrus rewrites the list
// pointers of earlier records in place with every write, so the pointers
// still say which records the complete file held: a returned record the
// pointers (followed from the DUMMY at every level) do not reach is listed
// in Doubts, with why (the list skips it, or its part of the list is lost
// past the cut or damaged).
func Salvage(r io.ReaderAt, size int64, fn func(key, value []byte) error) (cyrusdb.Salvaged, error) {
	var out cyrusdb.Salvaged
	sk, keys, state, pendingKeys, err := salvageScan(r, size)
	out.Skipped = sk
	if err != nil {
		return out, err
	}
	db := &DB{r: r, size: size, cmp: cyrusdb.CompareSigned, logs: fileio.NewSrc(r, size)}
	if h, err := readHeader(db.logs); err == nil {
		db.hdr = h
	} else {
		db.hdr = Header{Version: version, MaxLevel: maxLevel}
	}
	lw := db.reach(size, state)
	if lw.cutAt > 0 {
		out.Skipped = append(out.Skipped, cyrusdb.Skipped{Offset: size, Why: fmt.Sprintf("the file is cut: list pointers lead past its end (to 0x%X), so writes after the cut are lost", lw.cutAt)})
	}
	for _, k := range keys {
		off := state[k]
		n, err := db.readNode(db.logs, off, size)
		if err != nil {
			return out, err
		}
		if why := lw.doubt(db, k, off, pendingKeys); why != "" {
			out.Doubts = append(out.Doubts, cyrusdb.Doubt{Offset: off, Key: []byte(k), Why: why})
		}
		if err := fn(n.key, n.val); err != nil {
			return out, err
		}
	}
	return out, nil
}

// listWalk is what the list pointers say: the node records they reach and,
// for each reached record, what its level-0 pointer leads to.
type listWalk struct {
	reached map[int64]bool
	// nodes are the reached node records in key order; next[i] is the key
	// of nodes[i]'s level-0 successor, "" with nextOK for the end of the
	// list, and nextOK false when the successor is lost or damaged.
	nodes  []string
	next   []string
	nextOK []bool
	head   walkNext // the DUMMY's level-0 successor
	cutAt  int64    // first pointer past the end of the file, or 0
	headOK bool     // the DUMMY was readable
}

type walkNext struct {
	key string
	ok  bool
}

// reach follows the pointers from the DUMMY, at every level, through every
// node record inside the file that they reach.
func (db *DB) reach(size int64, state map[string]int64) *listWalk {
	w := &listWalk{reached: map[int64]bool{}}
	type item struct {
		key  string
		next walkNext
	}
	var items []item
	// target reads the node a pointer leads to.
	target := func(p int64) (node, bool) {
		if p == 0 || p%4 != 0 || p < db.first() {
			return node{}, false
		}
		if p >= size {
			if w.cutAt == 0 {
				w.cutAt = p
			}
			return node{}, false
		}
		n, err := db.readNode(db.logs, p, size)
		if err != nil {
			if _, ok := err.(truncErr); ok && w.cutAt == 0 {
				w.cutAt = p
			}
			return node{}, false
		}
		if n.typ == typeDummy {
			return node{}, false
		}
		return n, true
	}
	ptrs := func(n node) []int64 {
		poff := n.off + n.size - 4 - 4*int64(n.levels)
		b, err := db.logs.At(poff, 4*int64(n.levels))
		if err != nil {
			return nil
		}
		ps := make([]int64, n.levels)
		for i := range ps {
			ps[i] = int64(be.Uint32(b[4*i:]))
		}
		return ps
	}
	d, err := db.readNode(db.logs, dummyOffset, size)
	if err != nil || d.typ != typeDummy {
		return w
	}
	w.headOK = true
	queue := []int64{}
	visit := func(ps []int64) walkNext {
		var nx walkNext
		for i, p := range ps {
			n, ok := target(p)
			if i == 0 {
				switch {
				case p == 0:
					nx.ok = true
				case ok:
					nx = walkNext{key: string(n.key), ok: true}
				}
			}
			if ok && !w.reached[p] {
				w.reached[p] = true
				queue = append(queue, p)
			}
		}
		return nx
	}
	w.head = visit(ptrs(d))
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		n, err := db.readNode(db.logs, p, size)
		if err != nil {
			continue
		}
		k := string(n.key)
		items = append(items, item{key: k, next: visit(ptrs(n))})
	}
	slices.SortFunc(items, func(a, b item) int { return db.cmp([]byte(a.key), []byte(b.key)) })
	for _, it := range items {
		w.nodes = append(w.nodes, it.key)
		w.next = append(w.next, it.next.key)
		w.nextOK = append(w.nextOK, it.next.ok)
	}
	return w
}

// doubt says why the record of key k at off cannot be proven current, or
// "" when the list pointers reach it.
func (w *listWalk) doubt(db *DB, k string, off int64, pendingKeys map[string]bool) string {
	if w.reached[off] {
		return ""
	}
	if pendingKeys[k] {
		return "the transaction without COMMIT at the end of the file deleted or replaced it; the value is current unless the file was cut just before that COMMIT"
	}
	if !w.headOK {
		return "the list head (DUMMY) is damaged, so the list cannot confirm it"
	}
	// The reached record just before k in key order, and its successor.
	i, _ := slices.BinarySearchFunc(w.nodes, k, func(a, b string) int { return db.cmp([]byte(a), []byte(b)) })
	nx := w.head
	if i > 0 {
		nx = walkNext{key: w.next[i-1], ok: w.nextOK[i-1]}
	}
	if nx.ok && (nx.key == "" || db.cmp([]byte(k), []byte(nx.key)) < 0) {
		return "the list pointers skip it: a write the file does not hold as committed (lost past a cut) deleted or replaced it"
	}
	if w.cutAt > 0 {
		return "its part of the list is lost past the end of the file: a write lost with the cut may have deleted or replaced it"
	}
	return "its part of the list is damaged: a damaged write may have deleted or replaced it"
}

// salvageScan replays the file in order; it returns what it skipped, the
// live keys (sorted), their node offsets and the keys the uncommitted tail
// touches.
func salvageScan(r io.ReaderAt, size int64) ([]cyrusdb.Skipped, []string, map[string]int64, map[string]bool, error) {
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
			return skipped, nil, nil, nil, err
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
				return skipped, nil, nil, nil, err
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
	pendingKeys := map[string]bool{}
	if len(pending) > 0 {
		skip(txnAt, "%d record(s) of a transaction without COMMIT dropped (uncommitted)", len(pending))
		for _, p := range pending {
			pendingKeys[p.key] = true
		}
	}
	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return db.cmp([]byte(a), []byte(b)) })
	return skipped, keys, state, pendingKeys, nil
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
