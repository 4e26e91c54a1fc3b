package mboxfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/extsort"
	"github.com/murderkit/murderkit/mboxlist"
)

// SpoolBudget is the bytes of keys and values a RecordSpool holds in memory
// before it sorts them and writes them out as a run (extsort.Sorter: two
// such buffers exist, one filled while the other is sorted and written).
const SpoolBudget = 32 << 20

// RecordSpool is an external sort of the records of a mailboxes.db, so that
// an export holds a bounded amount of them in memory. Records offered as
// "ordered" (the N record of each entry, listed in raw 3.6 dbname order by
// the registry, which is the file's order of those keys) go to the sorter's
// presorted run while each is after the previous one; every other record
// (I, reverse-ACL and marker keys, an ordered one that is out of order, and
// all keys of the versions whose keys are internal names) is sorted in
// bounded runs (extsort.Sorter). Merge then yields all records in the
// file's order, refusing two equal keys.
//
// The runs live in a directory of their own (mboxconv export: beside DST,
// named ".DST.tmp-spool*", which a rerun clears after a killed run).
type RecordSpool struct {
	dir    string
	sorter *extsort.Sorter
}

// orderedRun is the name of the presorted run in a spool directory.
const orderedRun = "ordered"

// NewRecordSpool makes a spool in dir, which must not exist; cmp is the
// key order of the file (dbfile.Kind.Compare), budget the sorter's
// (SpoolBudget).
func NewRecordSpool(dir string, cmp func(a, b []byte) int, budget int) (*RecordSpool, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	s := extsort.NewSorter(dir, budget, cmp)
	if err := s.Presorted(orderedRun); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &RecordSpool{dir: dir, sorter: s}, nil
}

// SealedFile is the checkpoint of a spool that holds every record of an
// export: its runs and what the caller needs to go on (meta).
const SealedFile = "sealed.json"

type sealedSpool struct {
	Runs []string        `json:"runs"` // file names in the spool directory, after the ordered run
	Meta json.RawMessage `json:"meta"`
}

// Seal makes the spool a checkpoint: every run is written and synced, then
// sealed.json (the runs and meta) is written, synced and renamed into
// place. A rerun of the same job can then merge the spool without listing
// again (OpenSealedSpool).
func (s *RecordSpool) Seal(meta any) error {
	if err := s.sorter.Finish(); err != nil {
		return err
	}
	sp := sealedSpool{}
	for i, name := range s.sorter.Files() {
		if err := syncPath(name); err != nil {
			return err
		}
		if i > 0 { // the first is the ordered run, which is always there
			sp.Runs = append(sp.Runs, filepath.Base(name))
		}
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
	tmp := filepath.Join(s.dir, SealedFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := syncPath(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, SealedFile)); err != nil {
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

// OpenSealedSpool opens the sealed spool in dir, filling meta from its
// checkpoint; ok is false (and the error nil) when dir holds none.
func OpenSealedSpool(dir string, cmp func(a, b []byte) int, meta any) (s *RecordSpool, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, SealedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var sp sealedSpool
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, false, fmt.Errorf("%s: %w", filepath.Join(dir, SealedFile), err)
	}
	if err := json.Unmarshal(sp.Meta, meta); err != nil {
		return nil, false, fmt.Errorf("%s: %w", filepath.Join(dir, SealedFile), err)
	}
	var files []string
	for _, r := range append([]string{orderedRun}, sp.Runs...) {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			return nil, false, fmt.Errorf("sealed spool %s: %w", dir, err)
		}
		files = append(files, filepath.Join(dir, r))
	}
	return &RecordSpool{dir: dir, sorter: extsort.ReopenSorter(dir, SpoolBudget, cmp, files)}, true, nil
}

// Remove deletes every file of the spool.
func (s *RecordSpool) Remove() {
	s.sorter.Close()
	os.RemoveAll(s.dir)
}

// Add spools one record. ordered says it may go to the ordered run.
func (s *RecordSpool) Add(key, value []byte, ordered bool) error {
	if ordered {
		return s.sorter.AddSorted(key, value)
	}
	return s.sorter.Add(key, value)
}

// Wait waits for the run being written, if any, and returns its error
// (Add reports it only when the next buffer is full).
func (s *RecordSpool) Wait() error { return s.sorter.Wait() }

// Dir is the spool's directory.
func (s *RecordSpool) Dir() string { return s.dir }

// Merge calls fn with every spooled record in order; two records with the
// same key are an Input error. The key and value passed to fn are
// valid only during the call.
func (s *RecordSpool) Merge(fn func(key, value []byte) error) error {
	// Records with one key come out one after another: an I key may repeat
	// (entries sharing a uniqueid, see dedupByID), and the group is held
	// until the key changes; any other key may not.
	var group []mboxlist.KV
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		kvs, err := DedupByID(group, nil) // names only shape the error text
		if err != nil {
			return err
		}
		group = group[:0]
		return fn(kvs[0].Key, kvs[0].Value)
	}
	var last []byte
	n := 0
	err := s.sorter.Merge(func(key, value []byte) error {
		if len(group) > 0 && !bytes.Equal(group[0].Key, key) {
			if err := flush(); err != nil {
				return err
			}
		}
		switch {
		case len(key) > 0 && key[0] == mboxlist.KeyID:
			group = append(group, mboxlist.KV{Key: bytes.Clone(key), Value: bytes.Clone(value)})
		case n > 0 && bytes.Equal(last, key):
			return duplicateKeyErr(key)
		default:
			if err := fn(key, value); err != nil {
				return err
			}
		}
		last = append(last[:0], key...)
		n++
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// WriteDBFromSpool writes every spooled record, in order, as a new skiplist
// or twoskip file dst (as WriteDB does with records held in memory).
func WriteDBFromSpool(dst string, kind dbfile.Kind, s *RecordSpool) error {
	w, err := dbfile.Create(dst, kind.Format(), nil)
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
			return errStop
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
		if errors.Is(err, ErrDuplicateKey) {
			return err
		}
		return outputErr(fmt.Errorf("spool: %w", err))
	}
	return outputErr(w.Close())
}
