package twoskip

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/fileio"
)

// Writer writes a twoskip file in checkpoint form. It implements
// cyrusdb.Writer and cyrusdb.Aborter.
type Writer struct {
	path string
	tmp  *os.File
	out  *fileio.Out
	cmp  func(a, b []byte) int
	rng  *rand.Rand
	gen  uint64
	num  uint64
	last []byte
	// lastAt[k] is the newest record (or the DUMMY) whose logical level k
	// still waits for its successor.
	lastAt [maxLevel]*pending
	err    error
	done   bool
	// free holds finished pendings for reuse, by level; body is the
	// scratch copy of a record's key, value and padding.
	free [maxLevel + 1][]*pending
	body []byte
	// forceEscape writes 64-bit length extensions for every record (tests:
	// Cyrus writes them only for keys ≥ 65535 or values ≥ 4 GiB).
	forceEscape bool
}

// pending is a written record head whose pointers are not all known yet.
type pending struct {
	off     int64
	head    []byte // from type byte through the last slot
	waiting int    // logical levels still unresolved
}

var _ cyrusdb.Writer = (*Writer)(nil)

// Create starts a new twoskip file that replaces path on Close.
func Create(path string, opts *cyrusdb.WriteOptions) (*Writer, error) {
	var o cyrusdb.WriteOptions
	if opts != nil {
		o = *opts
	}
	w := &Writer{path: path, cmp: o.Compare, gen: o.Generation}
	if w.cmp == nil {
		w.cmp = cyrusdb.CompareRaw
	}
	seed := o.Seed
	if seed == 0 {
		seed = 0x7477_6f73_6b69_70 // "twoskip"
	}
	w.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if w.gen == 0 {
		w.gen = 1
		if old, err := Open(path, nil); err == nil {
			w.gen = old.Header().Generation + 1
			old.Close()
		}
	}
	tmp, err := fileio.CreateTemp(path, os.FileMode(o.Mode))
	if err != nil {
		return nil, err
	}
	w.tmp, w.out = tmp, fileio.NewOut(tmp)
	w.out.Write(make([]byte, headerLen)) // written at Close
	d := &pending{off: dummyOffset, head: make([]byte, 8+8*(maxLevel+1)), waiting: maxLevel}
	d.head[0], d.head[1] = typeDummy, maxLevel
	w.out.Write(make([]byte, dummyLen))
	for k := range w.lastAt {
		w.lastAt[k] = d
	}
	return w, nil
}

func (w *Writer) level() int {
	l := 1
	for l < maxLevel && w.rng.Uint32()&1 == 1 {
		l++
	}
	return l
}

// slotFor is the pointer slot of logical level k: level 0 is slot[1] in
// checkpoint form (slot[0] stays 0).
func slotFor(k int) int {
	if k == 0 {
		return 1
	}
	return k + 1
}

// Add appends a record; keys must strictly increase.
func (w *Writer) Add(key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("twoskip: Add after Close")
	}
	if len(key) == 0 {
		return errors.New("twoskip: empty key")
	}
	if w.num > 0 && w.cmp(w.last, key) >= 0 {
		return fmt.Errorf("twoskip: key %q is not after the previous key %q", clip(key), clip(w.last))
	}
	w.last = append(w.last[:0], key...)
	lvl := w.level()
	off := w.out.Offset()
	klen, vlen := uint64(len(key)), uint64(len(value))
	hl := 8
	if klen >= keyLenEscape || w.forceEscape {
		hl += 8
	}
	if vlen >= valLenEscape || w.forceEscape {
		hl += 8
	}
	me := w.newPending(lvl, hl+8*(lvl+1))
	me.off, me.waiting = off, lvl
	head := me.head
	head[0], head[1] = typeRecord, byte(lvl)
	p := 8
	if klen >= keyLenEscape || w.forceEscape {
		be.PutUint16(head[2:], keyLenEscape)
		be.PutUint64(head[p:], klen)
		p += 8
	} else {
		be.PutUint16(head[2:], uint16(klen))
	}
	if vlen >= valLenEscape || w.forceEscape {
		be.PutUint32(head[4:], valLenEscape)
		be.PutUint64(head[p:], vlen)
	} else {
		be.PutUint32(head[4:], uint32(vlen))
	}
	// Key, value and zero padding to 8 bytes: one checksum, one write.
	n := int(r8(int64(klen + vlen)))
	if cap(w.body) < n {
		w.body = make([]byte, n)
	}
	body := w.body[:n]
	copy(body, key)
	copy(body[klen:], value)
	clear(body[klen+vlen:])
	var crcs [8]byte
	be.PutUint32(crcs[4:], crc32.ChecksumIEEE(body))
	w.out.Write(head) // pointers and head CRC are patched when known
	w.out.Write(crcs[:])
	w.out.Write(body)
	for k := 0; k < lvl; k++ {
		pr := w.lastAt[k]
		s := len(pr.head) - 8*(maxLevelOf(pr)+1) + 8*slotFor(k)
		be.PutUint64(pr.head[s:], uint64(off))
		if pr.waiting--; pr.waiting == 0 {
			w.flushHead(pr)
			w.release(pr)
		}
		w.lastAt[k] = me
	}
	w.num++
	return w.out.Err()
}

func maxLevelOf(p *pending) int { return int(p.head[1]) }

// newPending returns a pending of level lvl with a zeroed head of n bytes,
// reusing a released one when it can.
func (w *Writer) newPending(lvl, n int) *pending {
	if f := w.free[lvl]; len(f) > 0 {
		p := f[len(f)-1]
		w.free[lvl] = f[:len(f)-1]
		if cap(p.head) >= n {
			p.head = p.head[:n]
			clear(p.head)
			return p
		}
	}
	return &pending{head: make([]byte, n)}
}

// release keeps a written pending (no level waits for it any more) for
// reuse; the DUMMY is not reused.
func (w *Writer) release(p *pending) {
	if p.off == dummyOffset {
		return
	}
	if lvl := maxLevelOf(p); len(w.free[lvl]) < 64 {
		w.free[lvl] = append(w.free[lvl], p)
	}
}

// flushHead writes a finished head and its CRC.
func (w *Writer) flushHead(p *pending) {
	var c [4]byte
	be.PutUint32(c[:], crc32.ChecksumIEEE(p.head))
	w.out.Patch(p.off, p.head)
	w.out.Patch(p.off+int64(len(p.head)), c[:])
}

// Close writes the COMMIT and the header and renames the file over the
// target.
func (w *Writer) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.err != nil {
		fileio.Abort(w.tmp)
		return w.err
	}
	seen := map[*pending]bool{}
	for _, p := range w.lastAt {
		if !seen[p] {
			seen[p] = true
			w.flushHead(p)
		}
	}
	commitOff := w.out.Offset()
	c := make([]byte, commitLen)
	c[0] = typeCommit
	be.PutUint64(c[8:], firstRecord)
	be.PutUint32(c[16:], crc32.ChecksumIEEE(c[:16]))
	w.out.Write(c)
	size := w.out.Offset()
	h := make([]byte, headerLen)
	copy(h, cyrusdb.TwoskipMagic)
	be.PutUint32(h[offVersion:], version)
	be.PutUint64(h[offGen:], w.gen)
	be.PutUint64(h[offNum:], w.num)
	be.PutUint64(h[offRepack:], uint64(commitOff))
	be.PutUint64(h[offCurrent:], uint64(size))
	be.PutUint32(h[offCRC:], crc32.ChecksumIEEE(h[:offCRC]))
	w.out.Patch(0, h)
	if err := w.out.Flush(); err != nil {
		w.err = fmt.Errorf("twoskip: write %s: %w", w.tmp.Name(), err)
		fileio.Abort(w.tmp)
		return w.err
	}
	if err := fileio.Commit(w.tmp, w.path); err != nil {
		w.err = fmt.Errorf("twoskip: %w", err)
	}
	return w.err
}

// Abort discards the file being written; the target is untouched.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return fileio.Abort(w.tmp)
}

// Write writes the records of r (in order) to a new twoskip file at path.
func Write(path string, opts *cyrusdb.WriteOptions, r cyrusdb.Reader) error {
	w, err := Create(path, opts)
	if err != nil {
		return err
	}
	if err := r.Iterate(w.Add); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}
