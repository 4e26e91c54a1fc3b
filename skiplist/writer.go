package skiplist

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/fileio"
)

// Writer writes a skiplist file in checkpoint form. It implements
// cyrusdb.Writer and cyrusdb.Aborter.
type Writer struct {
	path   string
	tmp    *os.File
	out    *fileio.Out
	cmp    func(a, b []byte) int
	rng    *rand.Rand
	now    int64
	num    uint64
	cur    int
	last   []byte
	lastAt [maxLevel]int64 // file offset of the pointer word waiting for level k
	err    error
	done   bool
}

var _ cyrusdb.Writer = (*Writer)(nil)

// Create starts a new skiplist file that replaces path on Close.
func Create(path string, opts *cyrusdb.WriteOptions) (*Writer, error) {
	var o cyrusdb.WriteOptions
	if opts != nil {
		o = *opts
	}
	w := &Writer{path: path, cmp: o.Compare, now: o.Now, cur: 1}
	if w.cmp == nil {
		w.cmp = cyrusdb.CompareSigned
	}
	if w.now == 0 {
		w.now = time.Now().Unix()
	}
	seed := o.Seed
	if seed == 0 {
		seed = 0x736b_6970_6c69_7374 // "skiplist"
	}
	w.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	tmp, err := fileio.CreateTemp(path, os.FileMode(o.Mode))
	if err != nil {
		return nil, err
	}
	w.tmp, w.out = tmp, fileio.NewOut(tmp)
	w.out.Write(make([]byte, headerLen))
	d := make([]byte, dummyLen)
	be.PutUint32(d, typeDummy)
	be.PutUint32(d[dummyLen-4:], terminator)
	w.out.Write(d)
	for k := range w.lastAt {
		w.lastAt[k] = dummyOffset + 12 + 4*int64(k)
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

// Add appends a record; keys must strictly increase in signed-char order
// (or the order of WriteOptions.Compare).
func (w *Writer) Add(key, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("skiplist: Add after Close")
	}
	if len(key) == 0 {
		return errors.New("skiplist: empty key")
	}
	if w.num > 0 && w.cmp(w.last, key) >= 0 {
		return fmt.Errorf("skiplist: key %q is not after the previous key %q", clip(key), clip(w.last))
	}
	lvl := w.level()
	off := w.out.Offset()
	size := 4 + 4 + r4(int64(len(key))) + 4 + r4(int64(len(value))) + 4*int64(lvl) + 4
	if off+size > maxFileOffset {
		w.err = errors.New("skiplist: file would exceed 4 GiB, the limit of the format's 32-bit offsets")
		return w.err
	}
	w.last = append(w.last[:0], key...)
	var word [4]byte
	put := func(v uint32) {
		be.PutUint32(word[:], v)
		w.out.Write(word[:])
	}
	var zeros [4]byte
	put(typeInorder)
	put(uint32(len(key)))
	w.out.Write(key)
	w.out.Write(zeros[:r4(int64(len(key)))-int64(len(key))])
	put(uint32(len(value)))
	w.out.Write(value)
	w.out.Write(zeros[:r4(int64(len(value)))-int64(len(value))])
	ptrs := w.out.Offset()
	for k := 0; k < lvl; k++ {
		put(0)
	}
	put(terminator)
	be.PutUint32(word[:], uint32(off))
	for k := 0; k < lvl; k++ {
		w.out.Patch(w.lastAt[k], word[:])
		w.lastAt[k] = ptrs + 4*int64(k)
	}
	w.cur = max(w.cur, lvl)
	w.num++
	return w.out.Err()
}

// Close writes the header and renames the file over the target.
func (w *Writer) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.err != nil {
		fileio.Abort(w.tmp)
		return w.err
	}
	size := w.out.Offset()
	h := make([]byte, headerLen)
	copy(h, cyrusdb.SkiplistMagic)
	be.PutUint32(h[offVersion:], version)
	be.PutUint32(h[offMinor:], versionMinor)
	be.PutUint32(h[offMaxLevel:], maxLevel)
	be.PutUint32(h[offCurLevel:], uint32(w.cur))
	be.PutUint32(h[offListSize:], uint32(w.num))
	be.PutUint32(h[offLogStart:], uint32(size))
	be.PutUint32(h[offRecovery:], uint32(w.now))
	w.out.Patch(0, h)
	if err := w.out.Flush(); err != nil {
		w.err = fmt.Errorf("skiplist: write %s: %w", w.tmp.Name(), err)
		fileio.Abort(w.tmp)
		return w.err
	}
	if err := fileio.Commit(w.tmp, w.path); err != nil {
		w.err = fmt.Errorf("skiplist: %w", err)
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

// Write writes the records of r to a new skiplist file at path. r must
// deliver them in this format's order (a twoskip reader delivers raw order,
// which differs for keys with bytes ≥ 0x80: sort first, or use
// convert-level helpers).
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
