package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/extsort"
	"github.com/murderkit/murderkit/mboxlist"
)

// spoolBudget is the bytes of keys and values a recordSpool holds in memory
// before it sorts them and writes them out as a run; the index of the
// records takes up to a quarter more (spoolAvgRecord). Two such buffers
// exist: one is filled while the other is sorted and written.
const spoolBudget = 32 << 20

// spoolAvgRecord is the smallest average record size (key and value) that
// fills a buffer before its index does.
const spoolAvgRecord = 128

// recordSpool is an external sort of the records of a mailboxes.db, so that
// an export holds a bounded amount of them in memory. Records offered as
// "ordered" (the N record of each entry, listed in raw 3.6 dbname order by
// the registry, which is the file's order of those keys) are appended to a
// run of their own while each is after the previous one; every other record
// (I, reverse-ACL and marker keys, an ordered one that is out of order, and
// all keys of the versions whose keys are internal names) goes to a memory
// buffer that is sorted and written as a run when full. Merge then yields
// all records in the file's order, refusing two equal keys.
//
// The runs live in a directory beside DST named ".DST.tmp-spool*", which
// removeStaleTemps clears after a killed run.
type recordSpool struct {
	dir    string
	cmp    func(a, b []byte) int
	signed bool // cmp is the signed order (skiplist), for extsort.KeyPrefix
	budget int

	ordered     *os.File
	orderedW    *bufio.Writer
	lastOrdered []byte
	nOrdered    int

	arena []byte         // keys and values of the buffered records
	index []extsort.Item // where they are in arena
	runs  []string       // the sorted run files written so far
	lenb  extsort.LenBuf

	// A full buffer is sorted and written by a goroutine of its own while
	// Add fills the other one: flushing is closed (and flushErr set) when
	// that run is on disk; spare is the buffer it gives back.
	flushing   chan struct{}
	flushErr   error
	spareArena []byte
	spareIndex []extsort.Item
}

// spoolDir is the spool directory of an export job to dst: named after the
// job, so that a rerun of the same job finds a sealed spool (Seal).
func spoolDir(dst, job string) string {
	return filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-spool-"+job[:16])
}

// newRecordSpoolIn makes a spool in dir, which must not exist.
func newRecordSpoolIn(dir string, cmp func(a, b []byte) int) (*recordSpool, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "ordered"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// cmp is cyrusdb.CompareRaw or cyrusdb.CompareSigned (spoolCompare).
	signed := cmp([]byte{0x80}, []byte{0x00}) < 0
	return &recordSpool{dir: dir, cmp: cmp, signed: signed, budget: spoolBudget, ordered: f, orderedW: bufio.NewWriterSize(f, 1<<20)}, nil
}

// sealedFile is the checkpoint of a spool that holds every record of an
// export: its runs and what the caller needs to go on (meta).
const sealedFile = "sealed.json"

type sealedSpool struct {
	Runs []string        `json:"runs"` // file names in the spool directory
	Meta json.RawMessage `json:"meta"`
}

// finish writes out what is buffered and closes the ordered run
// (idempotent).
func (s *recordSpool) finish() error {
	if s.ordered != nil {
		if err := s.orderedW.Flush(); err != nil {
			return err
		}
		if err := s.ordered.Close(); err != nil {
			return err
		}
		s.ordered = nil
	}
	if err := s.flushRun(); err != nil {
		return err
	}
	return s.wait()
}

// Seal makes the spool a checkpoint: every run is written and synced, then
// sealed.json (the runs and meta) is written, synced and renamed into
// place. A rerun of the same job can then merge the spool without listing
// again (openSealedSpool).
func (s *recordSpool) Seal(meta any) error {
	if err := s.finish(); err != nil {
		return err
	}
	sp := sealedSpool{}
	for _, name := range append([]string{filepath.Join(s.dir, "ordered")}, s.runs...) {
		if err := syncPath(name); err != nil {
			return err
		}
	}
	for _, r := range s.runs {
		sp.Runs = append(sp.Runs, filepath.Base(r))
	}
	m, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	sp.Meta = m
	b, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, sealedFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := syncPath(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, sealedFile)); err != nil {
		return err
	}
	return syncPath(s.dir)
}

func syncPath(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// openSealedSpool opens the sealed spool in dir, filling meta from its
// checkpoint; ok is false (and the error nil) when dir holds none.
func openSealedSpool(dir string, cmp func(a, b []byte) int, meta any) (s *recordSpool, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, sealedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var sp sealedSpool
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, false, fmt.Errorf("%s: %w", filepath.Join(dir, sealedFile), err)
	}
	if err := json.Unmarshal(sp.Meta, meta); err != nil {
		return nil, false, fmt.Errorf("%s: %w", filepath.Join(dir, sealedFile), err)
	}
	s = &recordSpool{dir: dir, cmp: cmp, signed: cmp([]byte{0x80}, []byte{0x00}) < 0, budget: spoolBudget}
	for _, r := range append([]string{"ordered"}, sp.Runs...) {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			return nil, false, fmt.Errorf("sealed spool %s: %w", dir, err)
		}
		if r != "ordered" {
			s.runs = append(s.runs, filepath.Join(dir, r))
		}
	}
	return s, true, nil
}

// Remove deletes every file of the spool.
func (s *recordSpool) Remove() {
	s.wait()
	if s.ordered != nil {
		s.ordered.Close()
	}
	os.RemoveAll(s.dir)
}

func (s *recordSpool) writeRecord(w io.Writer, key, value []byte) error {
	return extsort.WriteRecord(w, &s.lenb, key, value)
}

// Add spools one record. ordered says it may go to the ordered run.
func (s *recordSpool) Add(key, value []byte, ordered bool) error {
	if ordered && (s.nOrdered == 0 || s.cmp(s.lastOrdered, key) < 0) {
		s.lastOrdered = append(s.lastOrdered[:0], key...)
		s.nOrdered++
		return s.writeRecord(s.orderedW, key, value)
	}
	// The buffers do not grow (which would hold the old and the new
	// array at once): a record that does not fit starts a new run.
	if len(s.index) > 0 && (len(s.arena)+len(key)+len(value) > cap(s.arena) || len(s.index) == cap(s.index)) {
		if err := s.flushRun(); err != nil {
			return err
		}
	}
	if s.arena == nil {
		s.arena = make([]byte, 0, s.budget)
		s.index = make([]extsort.Item, 0, s.budget/spoolAvgRecord+1)
	}
	off := len(s.arena)
	s.arena = append(append(s.arena, key...), value...)
	s.index = append(s.index, extsort.Item{Pfx: extsort.KeyPrefix(key, s.signed), Off: off, KLen: len(key), VLen: len(value)})
	return nil
}

// flushRun starts writing the buffered records as a sorted run, on a
// goroutine of its own (after the previous run is written), and gives Add
// an empty buffer.
func (s *recordSpool) flushRun() error {
	if len(s.index) == 0 {
		return nil
	}
	if err := s.wait(); err != nil {
		return err
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
		s.flushErr = extsort.WriteRun(name, arena, index, cmp)
		s.spareArena, s.spareIndex = arena[:0], index[:0]
	}()
	return nil
}

// wait waits for the run being written, if any, and returns its error.
func (s *recordSpool) wait() error {
	if s.flushing != nil {
		<-s.flushing
		s.flushing = nil
	}
	return s.flushErr
}

// errDuplicateKey reports two records with one key.
var errDuplicateKey = errors.New("duplicate key")

// Merge calls fn with every spooled record in order; two records with the
// same key are an exitcode.Input error. The key and value passed to fn are
// valid only during the call.
func (s *recordSpool) Merge(fn func(key, value []byte) error) error {
	if err := s.finish(); err != nil {
		return err
	}
	s.arena, s.index, s.spareArena, s.spareIndex = nil, nil, nil, nil
	var rs []*extsort.RunReader
	for i, name := range append([]string{filepath.Join(s.dir, "ordered")}, s.runs...) {
		rr, err := extsort.OpenRun(name, i, 1<<20)
		if err != nil {
			for _, r := range rs {
				r.Close()
			}
			return err
		}
		rs = append(rs, rr)
	}
	m, err := extsort.NewMerger(rs, s.cmp)
	if err != nil {
		return err
	}
	defer m.Close()
	// Records with one key come out one after another: an I key may repeat
	// (entries sharing a uniqueid, see dedupByID), and the group is held
	// until the key changes; any other key may not.
	var group []mboxlist.KV
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		kvs, err := dedupByID(group, nil) // names only shape the error text
		if err != nil {
			return err
		}
		group = group[:0]
		return fn(kvs[0].Key, kvs[0].Value)
	}
	var last []byte
	n := 0
	for rr := m.Top(); rr != nil; rr = m.Top() {
		if len(group) > 0 && !bytes.Equal(group[0].Key, rr.Key) {
			if err := flush(); err != nil {
				return err
			}
		}
		switch {
		case len(rr.Key) > 0 && rr.Key[0] == mboxlist.KeyID:
			group = append(group, mboxlist.KV{Key: bytes.Clone(rr.Key), Value: bytes.Clone(rr.Value)})
		case n > 0 && bytes.Equal(last, rr.Key):
			return duplicateKeyErr(rr.Key)
		default:
			if err := fn(rr.Key, rr.Value); err != nil {
				return err
			}
		}
		last = append(last[:0], rr.Key...)
		n++
		if err := m.Advance(); err != nil {
			return err
		}
	}
	return flush()
}

// spoolCompare is the key order of a mailboxes.db format.
func spoolCompare(format string) func(a, b []byte) int {
	if format == "skiplist" {
		return cyrusdb.CompareSigned
	}
	return cyrusdb.CompareRaw
}

// writeDBFromSpool writes every spooled record, in order, as a new skiplist
// or twoskip file dst (as writeDB does with records held in memory).
func writeDBFromSpool(dst, format string, s *recordSpool) error {
	w, err := createDB(dst, format)
	if err != nil {
		return outputErr(err)
	}
	abort := func() {
		if a, ok := w.(cyrusdb.Aborter); ok {
			a.Abort()
		}
	}
	// The merge (reading the runs back) and the writer run on two
	// goroutines, handing over batches of records.
	batches := make(chan *kvBatch, 4)
	free := make(chan *kvBatch, 6)
	var addErr error
	var stop atomic.Bool
	written := make(chan struct{})
	go func() {
		defer close(written)
		for b := range batches {
			if addErr == nil {
				for _, r := range b.recs {
					if err := w.Add(b.buf[r.off:r.off+r.klen], b.buf[r.off+r.klen:r.off+r.klen+r.vlen]); err != nil {
						addErr = err
						stop.Store(true)
						break
					}
				}
			}
			b.buf, b.recs = b.buf[:0], b.recs[:0]
			select {
			case free <- b:
			default:
			}
		}
	}()
	var cur *kvBatch
	err = s.Merge(func(key, value []byte) error {
		if stop.Load() {
			return errExportStopped
		}
		if cur == nil {
			select {
			case cur = <-free:
			default:
				cur = &kvBatch{buf: make([]byte, 0, 256<<10), recs: make([]kvRec, 0, 1024)}
			}
		}
		cur.recs = append(cur.recs, kvRec{off: len(cur.buf), klen: len(key), vlen: len(value)})
		cur.buf = append(append(cur.buf, key...), value...)
		if len(cur.buf) >= 240<<10 || len(cur.recs) == cap(cur.recs) {
			batches <- cur
			cur = nil
		}
		return nil
	})
	if cur != nil && err == nil {
		batches <- cur
	}
	close(batches)
	<-written
	if err == nil && addErr != nil {
		err = addErr
	}
	if err != nil {
		abort()
		if addErr != nil {
			return outputErr(addErr)
		}
		if errors.Is(err, errDuplicateKey) {
			return err
		}
		return outputErr(fmt.Errorf("spool: %w", err))
	}
	return outputErr(w.Close())
}
