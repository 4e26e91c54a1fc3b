package main

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// exportBatchSize is the number of listed entries handed to a worker at once.
const exportBatchSize = 256

// exportPipeline does the export's per-entry work on every core while the
// registry is listed: the listing goroutine cuts the entries into batches,
// exportWorkers goroutines each take a batch and filter, convert, digest
// (into a digest of their own, merged at the end: the sums do not depend on
// the order) and encode its entries, and one goroutine hands the results to
// take in the listing's order, batch after batch, entry after entry — so
// losses, counts and spooled records come out exactly as one goroutine
// doing it all would give them.
type exportPipeline struct {
	flt         convert.Filter
	v           mboxlist.Version
	to          string
	db          bool // twoskip or skiplist: keep records, not entries
	encode      bool // encode the records (a spool takes them)
	eo          *mboxlist.EncodeOptions
	ignoreMtime bool
	// take is called with every item, in the listing's order, on one
	// goroutine; an error stops the listing and is returned by run.
	take func(it *exportItem) error
	// digests are the workers' digests of the selected entries, after run.
	digests []*convert.Digest
}

// exportItem is the result of one listed entry.
type exportItem struct {
	matched bool // the filters keep it
	skipped bool // left out: the target version cannot store its type
	name    string
	typ     string         // convert.TypeName of the type
	lost    []string       // loss lines, in order
	ce      mboxlist.Entry // the converted entry (json and legacy only)
	recs    []mboxlist.KV  // its records (when encoding), N (or the name key) first
	encErr  error          // encoding failed
}

type exportBatch struct {
	entries []registry.Entry
	items   []exportItem
	done    chan struct{}
}

// exportWorkers is the number of goroutines converting and encoding.
func exportWorkers() int { return max(1, runtime.GOMAXPROCS(0)) }

// run lists the registry under prefix and processes every entry; prog
// counts the listed entries.
func (p *exportPipeline) run(ctx context.Context, store registry.Store, prefix string, prog convert.Progress) error {
	nw := exportWorkers()
	work := make(chan *exportBatch, nw)
	order := make(chan *exportBatch, 2*nw+2)
	var wg sync.WaitGroup
	p.digests = make([]*convert.Digest, nw)
	for i := range nw {
		d := &convert.Digest{IgnoreMtime: p.ignoreMtime}
		p.digests[i] = d
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				p.process(b, d)
				close(b.done)
			}
		}()
	}
	// The taker: results in order.
	var failed atomic.Bool
	var takeErr error
	taken := make(chan struct{})
	go func() {
		defer close(taken)
		for b := range order {
			<-b.done
			if takeErr != nil {
				continue // drain
			}
			for i := range b.items {
				if err := p.take(&b.items[i]); err != nil {
					takeErr = err
					failed.Store(true)
					break
				}
			}
			b.items, b.entries = nil, nil
		}
	}()
	send := func(entries []registry.Entry) {
		b := &exportBatch{entries: entries, done: make(chan struct{})}
		order <- b // bounds the batches in flight
		work <- b
	}
	batch := make([]registry.Entry, 0, exportBatchSize)
	_, err := store.List(ctx, prefix, func(le registry.Entry) error {
		prog.Add(1)
		if failed.Load() {
			return errExportStopped
		}
		batch = append(batch, le)
		if len(batch) == exportBatchSize {
			send(batch)
			batch = make([]registry.Entry, 0, exportBatchSize)
		}
		return nil
	})
	if len(batch) > 0 && err == nil {
		send(batch)
	}
	close(work)
	close(order)
	wg.Wait()
	<-taken
	if takeErr != nil {
		return takeErr
	}
	return err
}

// process does the per-entry work of one batch (on a worker).
func (p *exportPipeline) process(b *exportBatch, d *convert.Digest) {
	b.items = make([]exportItem, len(b.entries))
	for i := range b.entries {
		e, it := &b.entries[i], &b.items[i]
		if !p.flt.Match(e) {
			continue
		}
		it.matched = true
		if len(e.Locations) > 1 {
			it.lost = append(it.lost, fmt.Sprintf("%s: locations: %d locations, a mailboxes.db holds one (the preferred primary %s is kept)", e.Name, len(e.Locations), e.Primary()))
		}
		ce, losses := mboxlist.Convert(mboxlist.V36, p.v, &e.Entry)
		it.name = ce.Name
		drop := false
		for _, l := range losses {
			it.lost = append(it.lost, fmt.Sprintf("%s: %s", e.Name, l))
			drop = drop || l.Field == "mbtype"
		}
		if drop {
			it.lost = append(it.lost, fmt.Sprintf("%s: left out: Cyrus %s cannot store its type", e.Name, p.v))
			it.skipped = true
			continue
		}
		if p.to == "legacy" {
			for _, l := range legacyLineLosses(p.v, &ce) {
				it.lost = append(it.lost, fmt.Sprintf("%s: %s", e.Name, l))
			}
		}
		it.typ = convert.TypeName(e.Type)
		// No Normalize: without Locations the digest and the slot take
		// Server/Partition, as Normalize's one location would give them
		// (an allocation per entry saved).
		re := registry.Entry{Entry: ce}
		d.Add(&re)
		switch {
		case !p.db:
			it.ce = ce
		case p.encode:
			it.recs, it.encErr = mboxlist.EncodeRecords(p.v, &ce, p.eo)
		}
	}
	b.entries = nil
}

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
// src.entries and convert.Digest would, one goroutine walking the file with
// our reader (every record's checksums, the key order and the record count
// are checked as ever) and exportWorkers goroutines decoding the N records
// and digesting them. A name history lives in the I record, which sorts
// before every N record: histories are collected while the I records pass
// (on the walking goroutine, before any N record is handed out) and only
// read after.
func digestDB36(ctx context.Context, src *source, ignoreMtime bool) (*convert.Digest, error) {
	nw := exportWorkers()
	work := make(chan *kvBatch, 2*nw)
	free := make(chan *kvBatch, 3*nw)
	hist := map[string]mboxlist.Entry{}
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
						rec, err := mboxlist.DecodeRecord(src.version, k, v, src.names)
						if err == nil {
							err = src.checkRecord(k, r.foff, &rec)
						}
						if err != nil {
							fail(inputErr(src.path, err))
							break
						}
						e := &rec.Entry
						// An I record belongs to the entry only when it
						// names it (a tombstone left by a rename shares the
						// uniqueid).
						if ie, ok := hist[e.UniqueID]; ok && e.UniqueID != "" && ie.Name == e.Name {
							e.History = ie.History
						}
						re := registry.Entry{Entry: *e} // no Normalize: see process
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
	err := src.iterateAt(func(foff int64, k, v []byte) error {
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
				return inputErr(src.path, fmt.Errorf("I record %q after an N record", k))
			}
			if bytes.HasSuffix(v, []byte(" H ())")) || !bytes.Contains(v, []byte(" H (")) {
				return nil
			}
			rec, err := mboxlist.DecodeRecord(src.version, k, v, src.names)
			if err == nil {
				err = src.checkRecord(k, foff, &rec)
			}
			if err != nil {
				return inputErr(src.path, err)
			}
			if len(rec.Entry.History) > 0 {
				hist[rec.Entry.UniqueID] = rec.Entry
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
		return nil, inputErr(src.path, err)
	}
	d := &convert.Digest{IgnoreMtime: ignoreMtime}
	for _, wd := range digests {
		d.Merge(wd)
	}
	return d, nil
}
