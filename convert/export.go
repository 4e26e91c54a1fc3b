package convert

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// errExportStopped stops the listing after the taker of its items failed.
var errExportStopped = errors.New("export stopped")

// exportBatchSize is the number of listed entries handed to a worker at once.
const exportBatchSize = 256

// ExportPipeline does the export's per-entry work on every core while the
// registry is listed: the listing goroutine cuts the entries into batches,
// exportWorkers goroutines each take a batch and filter, convert, digest
// (into a digest of their own, merged at the end: the sums do not depend on
// the order) and encode its entries, and one goroutine hands the results to
// take in the listing's order, batch after batch, entry after entry — so
// losses, counts and spooled records come out exactly as one goroutine
// doing it all would give them.
type ExportPipeline struct {
	Filter        Filter
	Version       mboxlist.Version // the target's Cyrus version
	Legacy        bool             // the target is legacy dump lines (LegacyLineLosses)
	DB            bool             // twoskip or skiplist: keep records, not entries
	Encode        bool             // encode the records (a spool takes them)
	EncodeOptions *mboxlist.EncodeOptions
	IgnoreMtime   bool
	// Take is called with every item, in the listing's order, on one
	// goroutine; an error stops the listing and is returned by Run.
	Take func(it *ExportItem) error
	// Digests are the workers' digests of the selected entries, after Run.
	Digests []*Digest
}

// ExportItem is the result of one listed entry.
type ExportItem struct {
	Matched   bool // the filters keep it
	Skipped   bool // left out: the target version cannot store its type
	Name      string
	Type      string         // TypeName of the type
	Lost      []string       // loss lines, in order
	Entry     mboxlist.Entry // the converted entry (json and legacy only)
	Records   []mboxlist.KV  // its records (when encoding), N (or the name key) first
	EncodeErr error          // encoding failed
}

type exportBatch struct {
	entries []registry.Entry
	items   []ExportItem
	done    chan struct{}
}

// Workers is the number of goroutines converting, encoding and digesting.
func Workers() int { return max(1, runtime.GOMAXPROCS(0)) }

// Run lists the registry under prefix and processes every entry; prog
// counts the listed entries.
func (p *ExportPipeline) Run(ctx context.Context, store registry.Reader, prefix string, prog Progress) error {
	nw := Workers()
	work := make(chan *exportBatch, nw)
	order := make(chan *exportBatch, 2*nw+2)
	var wg sync.WaitGroup
	p.Digests = make([]*Digest, nw)
	for i := range nw {
		d := &Digest{IgnoreMtime: p.IgnoreMtime}
		p.Digests[i] = d
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
				if err := p.Take(&b.items[i]); err != nil {
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
func (p *ExportPipeline) process(b *exportBatch, d *Digest) {
	b.items = make([]ExportItem, len(b.entries))
	for i := range b.entries {
		e, it := &b.entries[i], &b.items[i]
		if !p.Filter.Match(e) {
			continue
		}
		it.Matched = true
		if len(e.Locations) > 1 {
			it.Lost = append(it.Lost, fmt.Sprintf("%s: locations: %d locations, a mailboxes.db holds one (the preferred primary %s is kept)", e.Name, len(e.Locations), e.Primary()))
		}
		ce, lost, keep := ConvertEntry(mboxlist.V36, p.Version, &e.Entry)
		it.Name = ce.Name
		it.Lost = append(it.Lost, lost...)
		if !keep {
			it.Skipped = true
			continue
		}
		if p.Legacy {
			for _, l := range LegacyLineLosses(p.Version, &ce) {
				it.Lost = append(it.Lost, fmt.Sprintf("%s: %s", e.Name, l))
			}
		}
		it.Type = TypeName(e.Type)
		// No Normalize: without Locations the digest and the slot take
		// Server/Partition, as Normalize's one location would give them
		// (an allocation per entry saved).
		re := registry.Entry{Entry: ce}
		d.Add(&re)
		switch {
		case !p.DB:
			it.Entry = ce
		case p.Encode:
			it.Records, it.EncodeErr = mboxlist.EncodeRecords(p.Version, &ce, p.EncodeOptions)
		}
	}
	b.entries = nil
}

// LegacyLineLosses clears from e what the legacy dump lines of version v
// cannot carry and says what was cleared, so that the export's own
// verification compares what the file really holds. Lines of every version
// lack the name history; the 2.4–3.4 lines (`name TAB type partition acl`)
// also lack uniqueid, uidvalidity, modseqs and special-use (docs/cyrus-db.md
// §5), and 2.5's lines print no server.
func LegacyLineLosses(v mboxlist.Version, e *mboxlist.Entry) []string {
	var lost []string
	if n := len(e.History); n > 0 {
		lost = append(lost, fmt.Sprintf("name_history: legacy dump lines have no place for %d former name(s)", n))
		e.History = nil
	}
	// A line's ACL text cannot say "no ACL" apart from "empty ACL": 3.6's
	// -u -L reads an empty text as none, older versions' -u as empty.
	if len(e.ACL) == 0 {
		if v.ByID() {
			e.ACL = nil
		} else {
			e.ACL = mboxlist.ACL{}
		}
	}
	if v.ByID() {
		return lost
	}
	drop := func(field string, set bool, clear func()) {
		if set {
			lost = append(lost, fmt.Sprintf("%s: Cyrus %s dump lines have no place for it", field, v))
			clear()
		}
	}
	drop("uniqueid", e.Has(mboxlist.FieldUniqueID), func() { e.UniqueID = ""; e.SetPresent(mboxlist.FieldUniqueID, false) })
	drop("uidvalidity", e.UIDValidity != 0, func() { e.UIDValidity = 0 })
	drop("createdmodseq", e.CreatedModseq != 0, func() { e.CreatedModseq = 0 })
	drop("foldermodseq", e.FolderModseq != 0, func() { e.FolderModseq = 0 })
	drop("legacy_specialuse", e.Has(mboxlist.FieldSpecialUse), func() { e.LegacySpecialUse = ""; e.SetPresent(mboxlist.FieldSpecialUse, false) })
	if v == mboxlist.V25 {
		drop("server", e.Has(mboxlist.FieldServer), func() { e.Server = ""; e.SetPresent(mboxlist.FieldServer, false) })
	}
	return lost
}
