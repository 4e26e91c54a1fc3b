package mboxfile

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// kvBatch is a run of records handed from one goroutine to another (N
// records of a 3.6 file copied out of the reader's buffer, merged records
// on their way to the writer): keys and values back to back in buf.
type kvBatch struct {
	buf  []byte
	recs []kvRec
}

type kvRec struct {
	off, klen, vlen int
	foff            int64 // the record's file offset (-1: unknown)
}

const digestBatchRecords = 512

// digestDB36 digests every mailbox of an opened 3.6 mailboxes.db as
// src.Entries and convert.Digest would, one goroutine walking the file with
// our reader (every record's checksums, the key order and the record count
// are checked as ever) and convert.Workers goroutines decoding the N records
// and digesting them. A name history lives in the I record, which sorts
// before every N record: histories are collected while the I records pass
// (on the walking goroutine, before any N record is handed out) and only
// read after.
func digestDB36(ctx context.Context, src *Source, ignoreMtime bool) (*convert.Digest, error) {
	nw := convert.Workers()
	work := make(chan *kvBatch, 2*nw)
	free := make(chan *kvBatch, 3*nw)
	hist := histories{}
	var failed atomic.Bool
	var errOnce sync.Once
	var firstErr error
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	digests := make([]*convert.Digest, nw)
	var wg sync.WaitGroup
	for i := range nw {
		d := &convert.Digest{IgnoreMtime: ignoreMtime}
		digests[i] = d
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if !failed.Load() {
					for _, r := range b.recs {
						k := b.buf[r.off : r.off+r.klen]
						v := b.buf[r.off+r.klen : r.off+r.klen+r.vlen]
						rec, err := src.decode(r.foff, k, v)
						if err != nil {
							fail(err)
							break
						}
						hist.attach(&rec.Entry)
						re := registry.Entry{Entry: rec.Entry} // no Normalize: see process
						d.Add(&re)
					}
				}
				b.buf, b.recs = b.buf[:0], b.recs[:0]
				select {
				case free <- b:
				default:
				}
			}
		}()
	}
	var cur *kvBatch
	sentN := false
	flush := func() {
		if cur != nil && len(cur.recs) > 0 {
			work <- cur
			cur = nil
		}
	}
	err := src.IterateAt(func(foff int64, k, v []byte) error {
		if len(k) == 0 {
			return nil
		}
		if failed.Load() {
			return errStop
		}
		switch k[0] {
		case mboxlist.KeyID:
			if sentN {
				// Cannot happen: the reader checks the key order, and I
				// sorts before N.
				return inputErr(src.Path, fmt.Errorf("I record %q after an N record", k))
			}
			if err := hist.add(src, foff, k, v); err != nil {
				return err
			}
		case mboxlist.KeyName:
			sentN = true
			if cur == nil {
				select {
				case cur = <-free:
				default:
					cur = &kvBatch{buf: make([]byte, 0, 64<<10), recs: make([]kvRec, 0, digestBatchRecords)}
				}
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			cur.recs = append(cur.recs, kvRec{off: len(cur.buf), klen: len(k), vlen: len(v), foff: foff})
			cur.buf = append(append(cur.buf, k...), v...)
			if len(cur.recs) == digestBatchRecords {
				flush()
			}
		}
		return nil
	})
	if err == nil {
		flush()
	}
	close(work)
	wg.Wait()
	if err == errStop || (err == nil && firstErr != nil) {
		err = firstErr
	}
	if err != nil {
		return nil, inputErr(src.Path, err)
	}
	d := &convert.Digest{IgnoreMtime: ignoreMtime}
	for _, wd := range digests {
		d.Merge(wd)
	}
	return d, nil
}

// FileDigest digests every mailbox of a file (any format), as the export
// that wrote it digested them (convert.Digest). legacy, when given, is the
// version of legacy dump lines: lines without a `>` part (entries without
// a uniqueid, as every entry that came over MUPDATE) do not tell a 3.6
// `-u -L` file from an older dump.
func FileDigest(ctx context.Context, path string, ignoreMtime bool, o OpenOptions, legacy ...mboxlist.Version) (*convert.Digest, error) {
	kind, err := dbfile.Sniff(path)
	if err != nil {
		return nil, &Error{Input, err}
	}
	src, err := Open(ctx, path, kind, o)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if kind == dbfile.KindLegacy && len(legacy) > 0 {
		src.Version = legacy[0]
	}
	if src.Kind.IsDB() && src.Version == mboxlist.V36 {
		return digestDB36(ctx, src, ignoreMtime)
	}
	d := &convert.Digest{IgnoreMtime: ignoreMtime}
	err = src.Entries(ctx, func(e *mboxlist.Entry) error {
		re := registry.Entry{Entry: *e}
		re.Normalize()
		d.Add(&re)
		return nil
	})
	return d, err
}
