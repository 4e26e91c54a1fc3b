package extsort

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Item locates one buffered record in an arena: key at arena[Off:Off+KLen],
// value right after it (VLen bytes). Pfx is KeyPrefix of the key.
type Item struct {
	Pfx  uint64
	Off  int
	KLen int
	VLen int
}

// KeyPrefix maps the first 8 bytes of a key to a number that orders as
// the keys do, up to ties: bytes are taken big-endian, zero-padded (a
// shorter key sorts first), each flipped by 0x80 for a signed byte order
// (then a byte 0x80 ties with the padding). Keys whose prefixes differ
// compare as their prefixes; equal prefixes need the full compare.
func KeyPrefix(k []byte, signed bool) uint64 {
	var b [8]byte
	n := copy(b[:], k)
	if signed {
		for i := range n {
			b[i] ^= 0x80
		}
	}
	return binary.BigEndian.Uint64(b[:])
}

// IsSigned reports whether cmp orders bytes as signed values (0x80 first).
func IsSigned(cmp func(a, b []byte) int) bool { return cmp([]byte{0x80}, []byte{0x00}) < 0 }

// LenBuf is scratch for WriteRecord.
type LenBuf [2 * binary.MaxVarintLen64]byte

// WriteRecord writes one record in the run format.
func WriteRecord(w io.Writer, lenb *LenBuf, key, value []byte) error {
	n := binary.PutUvarint(lenb[:], uint64(len(key)))
	n += binary.PutUvarint(lenb[n:], uint64(len(value)))
	if _, err := w.Write(lenb[:n]); err != nil {
		return err
	}
	if _, err := w.Write(key); err != nil {
		return err
	}
	_, err := w.Write(value)
	return err
}

// SortItems sorts the records of an arena by key (cmp), ties in arena
// order (the order they were appended).
func SortItems(a []byte, index []Item, cmp func(a, b []byte) int) {
	slices.SortFunc(index, func(x, y Item) int {
		if x.Pfx != y.Pfx {
			if x.Pfx < y.Pfx {
				return -1
			}
			return 1
		}
		if c := cmp(a[x.Off:x.Off+x.KLen], a[y.Off:y.Off+y.KLen]); c != 0 {
			return c
		}
		return x.Off - y.Off
	})
}

// WriteRun sorts the records of a buffer (SortItems) and writes them to a
// new file name.
func WriteRun(name string, a []byte, index []Item, cmp func(a, b []byte) int) error {
	SortItems(a, index, cmp)
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var lenb LenBuf
	for _, it := range index {
		if err := WriteRecord(w, &lenb, a[it.Off:it.Off+it.KLen], a[it.Off+it.KLen:it.Off+it.KLen+it.VLen]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// RunReader reads one run back, one record at a time.
type RunReader struct {
	f          *os.File
	r          *bufio.Reader
	name       string
	Key, Value []byte // the current record, valid until the next Next
	Seq        int    // the run's place among those merged: ties come out in Seq order
}

// OpenRun opens a run file for reading with a buffer of bufSize bytes.
func OpenRun(name string, seq, bufSize int) (*RunReader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return &RunReader{f: f, r: bufio.NewReaderSize(f, bufSize), name: name, Seq: seq}, nil
}

// Next reads the next record; false at the end of the run. A run cut short
// is an error naming the file.
func (rr *RunReader) Next() (bool, error) {
	klen, err := binary.ReadUvarint(rr.r)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, rr.fail(err)
	}
	vlen, err := binary.ReadUvarint(rr.r)
	if err != nil {
		return false, rr.fail(err)
	}
	if cap(rr.Key) < int(klen) {
		rr.Key = make([]byte, klen)
	}
	rr.Key = rr.Key[:klen]
	if cap(rr.Value) < int(vlen) {
		rr.Value = make([]byte, vlen)
	}
	rr.Value = rr.Value[:vlen]
	if _, err := io.ReadFull(rr.r, rr.Key); err != nil {
		return false, rr.fail(err)
	}
	if _, err := io.ReadFull(rr.r, rr.Value); err != nil {
		return false, rr.fail(err)
	}
	return true, nil
}

func (rr *RunReader) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("sort run %s: %w", rr.name, err)
}

// Close closes the run file.
func (rr *RunReader) Close() error { return rr.f.Close() }

// Merger yields the records of several runs in order: the smallest key
// first, ties in Seq order.
type Merger struct {
	rs  []*RunReader
	cmp func(a, b []byte) int
}

// NewMerger reads the first record of each run (closing empty ones) and
// returns a merger positioned on the smallest. On an error every run is
// closed.
func NewMerger(runs []*RunReader, cmp func(a, b []byte) int) (*Merger, error) {
	m := &Merger{cmp: cmp}
	for i, rr := range runs {
		ok, err := rr.Next()
		if err != nil {
			m.Close()
			for _, r := range runs[i:] {
				r.Close()
			}
			return nil, err
		}
		if !ok {
			rr.Close()
			continue
		}
		m.rs = append(m.rs, rr)
	}
	heap.Init(m)
	return m, nil
}

// Top is the run holding the smallest record, nil when all are done.
func (m *Merger) Top() *RunReader {
	if len(m.rs) == 0 {
		return nil
	}
	return m.rs[0]
}

// Advance moves past Top's current record.
func (m *Merger) Advance() error {
	rr := m.rs[0]
	ok, err := rr.Next()
	if err != nil {
		return err
	}
	if ok {
		heap.Fix(m, 0)
	} else {
		rr.Close()
		heap.Pop(m)
	}
	return nil
}

// Close closes the runs not yet finished.
func (m *Merger) Close() {
	for _, rr := range m.rs {
		rr.Close()
	}
	m.rs = nil
}

func (m *Merger) Len() int { return len(m.rs) }
func (m *Merger) Less(i, j int) bool {
	if c := m.cmp(m.rs[i].Key, m.rs[j].Key); c != 0 {
		return c < 0
	}
	return m.rs[i].Seq < m.rs[j].Seq
}
func (m *Merger) Swap(i, j int) { m.rs[i], m.rs[j] = m.rs[j], m.rs[i] }
func (m *Merger) Push(x any)    { m.rs = append(m.rs, x.(*RunReader)) }
func (m *Merger) Pop() any {
	x := m.rs[len(m.rs)-1]
	m.rs = m.rs[:len(m.rs)-1]
	return x
}

// Sorter sorts records added one at a time with bounded memory: up to
// budget bytes of keys and values (and their index, which takes up to a
// quarter more at records of 128 bytes or more) are buffered; a full
// buffer is sorted and written as a run file in dir by a goroutine of its
// own while Add fills a second buffer. Merge yields every record in order.
// At most two buffers exist, so memory is about 2.5×budget whatever the
// number of records.
//
// A caller whose records come mostly in order already (a listing in the
// target order, with some records of other kinds in between) can give
// those to AddSorted after calling Presorted: they are written to a run
// of their own as they come, without a buffer, while each key is after the
// previous one.
type Sorter struct {
	dir     string
	pattern string // NewTempSorter: dir is made (os.MkdirTemp) at the first run
	cmp     func(a, b []byte) int
	signed  bool
	budget  int

	arena []byte
	index []Item
	runs  []string

	// the presorted run (Presorted, AddSorted): its file, the last key
	// written to it and how many records it holds
	pre     *os.File
	preW    *bufio.Writer
	preName string
	preLast []byte
	preN    int
	lenb    LenBuf

	flushing   chan struct{}
	flushErr   error
	spareArena []byte
	spareIndex []Item
}

// avgRecord is the smallest average record size (key and value) that
// fills a buffer before its index does.
const avgRecord = 128

// NewSorter returns a sorter writing its runs into dir (which must exist;
// Close removes the runs, not dir). cmp orders the keys.
func NewSorter(dir string, budget int, cmp func(a, b []byte) int) *Sorter {
	return &Sorter{dir: dir, cmp: cmp, signed: IsSigned(cmp), budget: budget}
}

// NewTempSorter returns a sorter whose runs go into a new directory in
// os.TempDir ($TMPDIR) named after pattern (os.MkdirTemp), made only when
// the first run is written: records that fit in one buffer are sorted in
// memory and touch no disk. Close removes the directory.
func NewTempSorter(pattern string, budget int, cmp func(a, b []byte) int) *Sorter {
	return &Sorter{pattern: pattern, cmp: cmp, signed: IsSigned(cmp), budget: budget}
}

// Dir is the directory of the runs ("" while a NewTempSorter wrote none).
func (s *Sorter) Dir() string { return s.dir }

// ReopenSorter returns a sorter of the run files an earlier sorter in dir
// wrote and listed with Files after Finish (they are merged in that order,
// so ties come out in it): a sort that survives its process. Close
// removes them.
func ReopenSorter(dir string, budget int, cmp func(a, b []byte) int, files []string) *Sorter {
	s := NewSorter(dir, budget, cmp)
	s.runs = append([]string(nil), files...)
	return s
}

// Presorted creates the presorted run, the file name in the sorter's
// directory (NewSorter; name must not exist there), for AddSorted. It comes
// first in the merge: a tie with a record of another run comes out first.
func (s *Sorter) Presorted(name string) error {
	if s.dir == "" {
		return errors.New("extsort: Presorted needs a sorter with a directory (NewSorter)")
	}
	name = filepath.Join(s.dir, name)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	s.pre, s.preW, s.preName = f, bufio.NewWriterSize(f, 1<<20), name
	return nil
}

// AddSorted adds one record that is expected after the previous one given
// to AddSorted: while it is (by the sorter's order), it is appended to the
// presorted run; otherwise it is buffered as by Add. Presorted must have
// been called.
func (s *Sorter) AddSorted(key, value []byte) error {
	if s.preW != nil && (s.preN == 0 || s.cmp(s.preLast, key) < 0) {
		s.preLast = append(s.preLast[:0], key...)
		s.preN++
		return WriteRecord(s.preW, &s.lenb, key, value)
	}
	return s.Add(key, value)
}

// Add buffers one record (copied).
func (s *Sorter) Add(key, value []byte) error {
	// The buffers do not grow (which would hold the old and the new
	// array at once): a record that does not fit starts a new run.
	if len(s.index) > 0 && (len(s.arena)+len(key)+len(value) > cap(s.arena) || len(s.index) == cap(s.index)) {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if s.arena == nil {
		s.arena = make([]byte, 0, max(s.budget, len(key)+len(value)))
		s.index = make([]Item, 0, s.budget/avgRecord+1)
	}
	off := len(s.arena)
	s.arena = append(append(s.arena, key...), value...)
	s.index = append(s.index, Item{Pfx: KeyPrefix(key, s.signed), Off: off, KLen: len(key), VLen: len(value)})
	return nil
}

// Runs is the number of runs written to disk so far.
func (s *Sorter) Runs() int { return len(s.runs) }

// flush starts writing the buffered records as a sorted run (after the
// previous run is written) and gives Add an empty buffer.
func (s *Sorter) flush() error {
	if len(s.index) == 0 {
		return nil
	}
	if err := s.wait(); err != nil {
		return err
	}
	if s.dir == "" && s.pattern != "" {
		dir, err := os.MkdirTemp("", s.pattern)
		if err != nil {
			return err
		}
		s.dir = dir
	}
	name := filepath.Join(s.dir, fmt.Sprintf("run%d", len(s.runs)))
	s.runs = append(s.runs, name)
	arena, index, cmp := s.arena, s.index, s.cmp
	s.arena, s.index = s.spareArena[:0], s.spareIndex[:0]
	s.spareArena, s.spareIndex = nil, nil
	done := make(chan struct{})
	s.flushing = done
	go func() {
		defer close(done)
		s.flushErr = WriteRun(name, arena, index, cmp)
		s.spareArena, s.spareIndex = arena[:0], index[:0]
	}()
	return nil
}

func (s *Sorter) wait() error {
	if s.flushing != nil {
		<-s.flushing
		s.flushing = nil
	}
	return s.flushErr
}

// Wait waits for the run being written, if any, and returns the error of
// writing a run, if one failed (Add reports it only at the next full
// buffer).
func (s *Sorter) Wait() error { return s.wait() }

// Finish writes the presorted run and the buffered records out: every
// record added is then in a run file (Files). Records may still be added
// (not to the presorted run); Finish may be called again.
func (s *Sorter) Finish() error {
	if s.pre != nil {
		if err := s.preW.Flush(); err != nil {
			return err
		}
		if err := s.pre.Close(); err != nil {
			return err
		}
		s.pre, s.preW = nil, nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	return s.wait()
}

// Files lists the run files written so far, in merge order: the
// presorted run, if any, first.
func (s *Sorter) Files() []string {
	if s.preName == "" {
		return slices.Clone(s.runs)
	}
	return append([]string{s.preName}, s.runs...)
}

// Merge calls fn with every record added, in key order, ties in the order
// they were added. What fn gets is valid only during the call. When
// nothing was written to disk the buffer is sorted in memory. Merge may be
// called once.
func (s *Sorter) Merge(fn func(key, value []byte) error) error {
	if len(s.runs) == 0 && s.preName == "" {
		if err := s.wait(); err != nil {
			return err
		}
		a, index := s.arena, s.index
		SortItems(a, index, s.cmp)
		for _, it := range index {
			if err := fn(a[it.Off:it.Off+it.KLen], a[it.Off+it.KLen:it.Off+it.KLen+it.VLen]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.Finish(); err != nil {
		return err
	}
	s.arena, s.index, s.spareArena, s.spareIndex = nil, nil, nil, nil
	files := s.Files()
	// Buffers of the readers: at most budget bytes in all.
	bufSize := max(4<<10, min(1<<20, s.budget/len(files)))
	var rs []*RunReader
	for i, name := range files {
		rr, err := OpenRun(name, i, bufSize)
		if err != nil {
			for _, r := range rs {
				r.Close()
			}
			return err
		}
		rs = append(rs, rr)
	}
	m, err := NewMerger(rs, s.cmp)
	if err != nil {
		return err
	}
	defer m.Close()
	for rr := m.Top(); rr != nil; rr = m.Top() {
		if err := fn(rr.Key, rr.Value); err != nil {
			return err
		}
		if err := m.Advance(); err != nil {
			return err
		}
	}
	return nil
}

// Close waits for a run being written and removes every run file (and
// the directory a NewTempSorter made).
func (s *Sorter) Close() error {
	s.wait()
	if s.pre != nil {
		s.pre.Close()
		s.pre, s.preW = nil, nil
	}
	var first error
	for _, name := range s.Files() {
		if err := os.Remove(name); err != nil && !os.IsNotExist(err) && first == nil {
			first = err
		}
	}
	if s.pattern != "" && s.dir != "" {
		if err := os.Remove(s.dir); err != nil && !os.IsNotExist(err) && first == nil {
			first = err
		}
		s.dir = ""
	}
	s.runs, s.preName = nil, ""
	s.arena, s.index, s.spareArena, s.spareIndex = nil, nil, nil, nil
	return first
}
