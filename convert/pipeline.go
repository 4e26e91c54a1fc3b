package convert

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// EntrySource yields the mailboxes of a source in a fixed order (the same
// order on every run over the same content: resuming depends on it).
type EntrySource func(ctx context.Context, fn func(e *mboxlist.Entry) error) error

// Summary is what a pipeline did.
type Summary struct {
	Read      int64          `json:"read"`      // entries read from the source
	Selected  int64          `json:"selected"`  // passed the filter
	Skipped   int64          `json:"skipped"`   // left out by the filter
	Resumed   int64          `json:"resumed"`   // selected, but stored by an earlier run (checkpoint)
	Created   int            `json:"created"`   // absent in the sink before
	Updated   int            `json:"updated"`   // present with other content
	Unchanged int            `json:"unchanged"` // present with the same content
	ByType    map[string]int `json:"by_type"`   // selected entries by 3.6 type string ("e", "er", "cd", ...)
	Warnings  []string       `json:"warnings"`
	Verified  bool           `json:"verified"`           // counts and digests per slot compared equal
	Slots     []SlotSummary  `json:"slots,omitempty"`    // per-slot count and digest of the selection
	DryRun    bool           `json:"dry_run,omitempty"`  // nothing was written
	Attempts  int            `json:"attempts,omitempty"` // source reads (a live file changed under the reader)
	Bulk      bool           `json:"bulk,omitempty"`     // stored in one bulk step (ImportOptions.Bulk), not in batches
	// KeptLive counts the source's tombstones (d) left out because the
	// registry holds a live mailbox of that name (import).
	KeptLive int                 `json:"kept_live,omitempty"`
	Digest   *Digest             `json:"-"`
	Names    map[string]struct{} `json:"-"`
}

// SlotSummary is one slot of Summary.Slots.
type SlotSummary struct {
	Slot   string `json:"slot"`
	Count  int    `json:"count"`
	Digest string `json:"digest"`
}

// TypeName is the key of Summary.ByType for t.
func TypeName(t mboxlist.MBType) string {
	if s := t.String(); s != "" {
		return s
	}
	return fmt.Sprintf("kind%d", t.Kind())
}

// FillSlots copies the digest's slots into s.Slots.
func (s *Summary) FillSlots() {
	s.Slots = nil
	if s.Digest == nil {
		return
	}
	for _, n := range s.Digest.Slots() {
		d := s.Digest.Slot(n)
		s.Slots = append(s.Slots, SlotSummary{Slot: n, Count: d.Count, Digest: d.Sum()})
	}
}

// Text is the closing summary for people.
func (s *Summary) Text(verb, from string) string {
	var b strings.Builder
	if s.Selected == s.Read {
		fmt.Fprintf(&b, "%s %d mailboxes", verb, s.Selected)
	} else {
		fmt.Fprintf(&b, "%s %d of %d mailboxes", verb, s.Selected, s.Read)
	}
	if from != "" {
		fmt.Fprintf(&b, " from %s", from)
	}
	if strings.Contains(verb, "export") {
		fmt.Fprintf(&b, ": %d written", s.Created)
		if s.Skipped > 0 {
			fmt.Fprintf(&b, ", %d left out (--lossy)", s.Skipped)
		}
	} else if s.DryRun {
		fmt.Fprintf(&b, " (dry run: would create %d, update %d; %d unchanged)", s.Created, s.Updated, s.Unchanged)
	} else {
		fmt.Fprintf(&b, ": %d created, %d updated, %d unchanged", s.Created, s.Updated, s.Unchanged)
	}
	if s.Resumed > 0 {
		fmt.Fprintf(&b, ", %d stored by the interrupted run", s.Resumed)
	}
	if s.Bulk {
		b.WriteString(" (bulk)")
	}
	if s.Skipped > 0 && !strings.Contains(verb, "export") {
		fmt.Fprintf(&b, ", %d skipped by the filter", s.Skipped)
	}
	if s.KeptLive > 0 {
		fmt.Fprintf(&b, ", %d tombstone(s) left out (live registry mailboxes of those names kept)", s.KeptLive)
	}
	var types []string
	for t := range s.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	if len(types) > 0 {
		b.WriteString("; by type:")
		for _, t := range types {
			fmt.Fprintf(&b, " %s=%d", t, s.ByType[t])
		}
	}
	fmt.Fprintf(&b, "; %d warning(s)", len(s.Warnings))
	if s.Verified {
		fmt.Fprintf(&b, "; verified: counts and digests of %d slot(s) equal", len(s.Slots))
	}
	return b.String()
}

// ImportOptions configures Import.
type ImportOptions struct {
	Server string // recorded for entries without a server
	Batch  int    // entries per Store.Import call (default 1000)
	Filter Filter
	DryRun bool
	// Checkpoint is the checkpoint file; "" runs without one. Job
	// identifies the job (see JobKey): a checkpoint of another job is
	// ignored.
	Checkpoint string
	Job        string
	Progress   Progress
	Total      int64 // entries in the source for the progress total; -1 unknown
	SlotOf     func(e *registry.Entry) string
	Log        *slog.Logger
	// Bulk, when set, stores the whole selection in one step instead of
	// Store.Import batches (leveldb.Build into an empty registry): it calls
	// feed, which calls add for every selected entry in source order, and
	// returns the store to verify against (the caller closes it). It is
	// not used for a dry run or to resume from a checkpoint; no checkpoint
	// is written (the step is all or nothing), and an error from add
	// (e.g. leveldb.ErrUnsorted) ends the import with that error.
	Bulk func(ctx context.Context, feed func(add func(registry.Entry) error) error) (registry.Store, registry.ImportStats, error)
	// AllowServerless lets entries without a server (after Server is
	// applied) replace registry entries that have one; otherwise Import
	// refuses them before writing anything (*ServerlessError). See screen.
	AllowServerless bool
}

// Prepare turns a source entry into the registry entry an import stores.
func Prepare(e *mboxlist.Entry, server string) registry.Entry {
	re := registry.Entry{Entry: *e}
	if re.Server == "" && server != "" {
		re.Server = server
	}
	re.Normalize()
	return re
}

// ImportTarget is what Import uses of a registry.Store: reads (the dry
// run, the screen, the verifying listing) and Import.
type ImportTarget interface {
	registry.Reader
	registry.Importer
}

// Import stores every selected entry of src in store, Store.Import batch by
// batch, recording after each batch how many source entries are done in
// the checkpoint. A rerun of the same job skips the entries a checkpoint
// covers (they are still read, for the digest); since Store.Import creates
// absent entries, replaces different ones and leaves equal ones, a batch
// stored again after a kill changes nothing: no duplicate, no loss.
//
// With DryRun nothing is written: each selected entry is compared with the
// registry (Get) and counted as it would be. Otherwise, after the last
// batch, the registry is listed and the count and digest per slot of the
// imported names are compared with the source's (Summary.Verified); a
// difference is an error. The checkpoint is removed after a verified run.
func Import(ctx context.Context, src EntrySource, store ImportTarget, o ImportOptions) (*Summary, error) {
	o.setDefaults()
	r, err := startImport(store, &o)
	if err != nil {
		return nil, err
	}
	s := r.s
	o.Progress.Start("import", r.total())
	if !r.bulk {
		if err := r.screenSource(ctx, src); err != nil {
			return s, err
		}
		err = r.storeBatches(ctx, src)
	} else {
		err = r.storeBulk(ctx, src)
	}
	o.Progress.Done()
	if err != nil {
		return s, err
	}
	r.warnKeptLive()
	s.FillSlots()
	if o.DryRun {
		return s, nil
	}
	return s, r.verify(ctx)
}

// setDefaults fills the options left zero: a batch of 1000, no progress,
// no log.
func (o *ImportOptions) setDefaults() {
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Progress == nil {
		o.Progress = noProgress{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// importRun is one Import: what its steps share.
type importRun struct {
	o     *ImportOptions
	store ImportTarget // replaced by the store a bulk step returns
	s     *Summary
	cp    Checkpoint // source entries done by an earlier run of the job
	bulk  bool       // one bulk step (ImportOptions.Bulk), not batches
	ad    *asyncDigest
	scr   *screenResult // the source screened against the registry (not bulk)

	idx      int64 // source entries read so far (the checkpoint counts them)
	batch    []registry.Entry
	keptLive []string // examples of tombstones left out for live entries
}

// startImport loads the job's checkpoint (not for a dry run) and sets up
// the summary. A bulk step is taken when the options offer one, nothing
// is to be resumed and it is not a dry run; it digests on another
// goroutine and needs no set of names: it refuses a name given twice (out
// of order), and the registry it fills held nothing before, so all it
// holds afterwards is this import.
func startImport(store ImportTarget, o *ImportOptions) (*importRun, error) {
	cp := Checkpoint{Job: o.Job}
	if o.Checkpoint != "" && !o.DryRun {
		var err error
		if cp, err = LoadCheckpoint(o.Checkpoint, o.Job); err != nil {
			return nil, err
		}
		if cp.Done > 0 {
			o.Log.Info("resuming from checkpoint", "checkpoint", o.Checkpoint, "done", cp.Done)
		}
	}
	r := &importRun{o: o, store: store, cp: cp, batch: make([]registry.Entry, 0, o.Batch)}
	r.s = &Summary{ByType: map[string]int{}, Warnings: []string{}, DryRun: o.DryRun,
		Digest: &Digest{SlotOf: o.SlotOf}, Names: map[string]struct{}{}}
	r.bulk = o.Bulk != nil && !o.DryRun && cp.Done == 0
	if r.bulk {
		r.ad = newAsyncDigest(r.s.Digest)
		r.s.Names = nil
	}
	return r, nil
}

// total is the progress total: the source's entries, or -1 when unknown.
func (r *importRun) total() int64 {
	if r.o.Total == 0 {
		return -1
	}
	return r.o.Total
}

// screenSource screens the source against the registry (screen.go) before
// anything is written: which tombstones would replace live entries, and
// which entries without a server would replace entries that have one
// (refused with *ServerlessError unless AllowServerless). A registry never
// written to has nothing to protect.
func (r *importRun) screenSource(ctx context.Context, src EntrySource) error {
	rev, err := r.store.Revision(ctx)
	if err != nil {
		return err
	}
	if rev > 0 {
		if r.scr, err = screen(ctx, src, r.store, r.o); err != nil {
			return err
		}
	} else {
		r.scr = &screenResult{}
	}
	if r.scr.nrepl > 0 {
		if !r.o.AllowServerless {
			return &ServerlessError{Count: r.scr.nrepl, Examples: r.scr.replaced}
		}
		r.s.Warnings = append(r.s.Warnings, fmt.Sprintf("%d entries without a server replaced registry entries that had one: %s", r.scr.nrepl, examples(r.scr.replaced, r.scr.nrepl)))
	}
	return nil
}

// take reads one source entry into the summary; ok reports whether it is
// selected (the filter keeps it, it is not a tombstone of a live mailbox).
// A name given twice (batches) and a value Cyrus cannot hold are errors.
func (r *importRun) take(e *mboxlist.Entry) (re registry.Entry, ok bool, err error) {
	s, o := r.s, r.o
	s.Read++
	re = Prepare(e, o.Server)
	r.idx++
	if !o.Filter.Match(&re) {
		s.Skipped++
		return re, false, nil
	}
	if r.scr != nil && re.Type.Has(mboxlist.FlagDeleted) {
		if _, live := r.scr.shadowed[re.Name]; live {
			// a tombstone never replaces a live mailbox
			s.KeptLive++
			if len(r.keptLive) < maxExamples {
				r.keptLive = append(r.keptLive, re.Name)
			}
			return re, false, nil
		}
	}
	if !r.bulk {
		if _, dup := s.Names[re.Name]; dup {
			return re, false, fmt.Errorf("%s: the source holds this name twice", re.Name)
		}
		s.Names[re.Name] = struct{}{}
	}
	// what real Cyrus cannot hold is refused (mboxlist.Entry.Check):
	// stored, it would reach every frontend of the bridge
	if err := re.Entry.Check(nil); err != nil {
		n := re.Name
		if len(n) > 80 {
			n = n[:80] + "..."
		}
		return re, false, fmt.Errorf("entry %d (%q): a value Cyrus cannot hold: %w", s.Read, n, err)
	}
	s.Selected++
	s.ByType[TypeName(re.Type)]++
	if r.ad != nil {
		r.ad.Add(&re)
	} else {
		s.Digest.Add(&re)
	}
	return re, true, nil
}

// storeBulk stores the whole selection in one step (ImportOptions.Bulk);
// the store it returns is the one verified.
func (r *importRun) storeBulk(ctx context.Context, src EntrySource) error {
	o := r.o
	bulkStore, st, err := o.Bulk(ctx, func(add func(registry.Entry) error) error {
		pending := 0
		err := src(ctx, func(e *mboxlist.Entry) error {
			re, ok, err := r.take(e)
			if err != nil || !ok {
				return err
			}
			if pending++; pending == 1024 {
				o.Progress.Add(pending)
				pending = 0
			}
			return add(re)
		})
		o.Progress.Add(pending)
		return err
	})
	r.ad.Close()
	if bulkStore != nil {
		r.store = bulkStore
	}
	r.s.Created, r.s.Updated, r.s.Unchanged = st.Created, st.Updated, st.Unchanged
	r.s.Bulk = err == nil
	return err
}

// storeBatches stores the selection batch by batch (flush), skipping the
// entries the checkpoint says an earlier run stored.
func (r *importRun) storeBatches(ctx context.Context, src EntrySource) error {
	err := src(ctx, func(e *mboxlist.Entry) error {
		re, ok, err := r.take(e)
		if err != nil || !ok {
			return err
		}
		if r.idx <= r.cp.Done {
			r.s.Resumed++
			r.o.Progress.Add(1)
			return nil
		}
		r.batch = append(r.batch, re)
		if len(r.batch) >= r.o.Batch {
			return r.flush(ctx)
		}
		return nil
	})
	if err == nil {
		err = r.flush(ctx)
	}
	return err
}

// flush stores the batch (Store.Import; for a dry run each entry is
// compared with the registry's and counted as it would be) and saves in
// the checkpoint how many source entries are done.
func (r *importRun) flush(ctx context.Context) error {
	s, o := r.s, r.o
	if len(r.batch) > 0 {
		if o.DryRun {
			for i := range r.batch {
				cur, err := r.store.Get(ctx, r.batch[i].Name)
				switch {
				case err == nil && string(Canonical(&cur, false)) == string(Canonical(&r.batch[i], false)):
					s.Unchanged++
				case err == nil:
					s.Updated++
				default:
					if !isNotFound(err) {
						return err
					}
					s.Created++
				}
			}
		} else {
			st, err := r.store.Import(ctx, r.batch)
			if err != nil {
				return err
			}
			s.Created += st.Created
			s.Updated += st.Updated
			s.Unchanged += st.Unchanged
		}
		o.Progress.Add(len(r.batch))
		r.batch = r.batch[:0]
	}
	if o.Checkpoint != "" && !o.DryRun && r.idx > r.cp.Done {
		r.cp.Done = r.idx
		if err := r.cp.Save(o.Checkpoint); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

// warnKeptLive adds the warning about the source's tombstones left out.
func (r *importRun) warnKeptLive() {
	if s := r.s; s.KeptLive > 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d tombstone(s) of the source (type d) left out: the registry holds live mailboxes of those names, which stay: %s", s.KeptLive, examples(r.keptLive, s.KeptLive)))
	}
}

// verify lists the registry and compares the count and digest per slot of
// the imported names with the source's (Summary.Verified), then removes
// the checkpoint.
func (r *importRun) verify(ctx context.Context) error {
	s, o := r.s, r.o
	got, err := RegistryDigest(ctx, r.store, s.Names, o.Filter.ListPrefix(), s.Digest.SlotOf, false)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if d := s.Digest.Compare(got); d != nil {
		return &VerifyError{What: "registry after import", Diffs: d}
	}
	s.Verified = true
	if o.Checkpoint != "" {
		if err := RemoveCheckpoint(o.Checkpoint); err != nil {
			s.Warnings = append(s.Warnings, "checkpoint not removed: "+err.Error())
		}
	}
	return nil
}

// VerifyError says that a finished pipeline's sink does not hold what the
// source held.
type VerifyError struct {
	What  string
	Diffs []string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("verification of the %s failed: %s", e.What, strings.Join(e.Diffs, "; "))
}

// RegistryDigest lists the registry (under prefix) and digests the live
// entries whose names are in names (all of them when names is nil).
func RegistryDigest(ctx context.Context, store registry.Reader, names map[string]struct{}, prefix string, slotOf func(*registry.Entry) string, ignoreMtime bool) (*Digest, error) {
	d := &Digest{SlotOf: slotOf, IgnoreMtime: ignoreMtime}
	ad := newAsyncDigest(d) // listing and digesting on two cores
	_, err := store.List(ctx, prefix, func(e registry.Entry) error {
		if names != nil {
			if _, ok := names[e.Name]; !ok {
				return nil
			}
		}
		ad.Add(&e)
		return nil
	})
	ad.Close()
	return d, err
}

// asyncDigest adds entries to a Digest on its own goroutine, in chunks and
// in order (the digest does not depend on the order, but Add is not safe
// for concurrent use). The entries are copied; what they refer to (ACL,
// locations) must not be changed after Add.
type asyncDigest struct {
	d     *Digest
	ch    chan []registry.Entry
	chunk []registry.Entry
	done  chan struct{}
}

const digestChunk = 512

func newAsyncDigest(d *Digest) *asyncDigest {
	a := &asyncDigest{d: d, ch: make(chan []registry.Entry, 8), chunk: make([]registry.Entry, 0, digestChunk), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for c := range a.ch {
			for i := range c {
				a.d.Add(&c[i])
			}
		}
	}()
	return a
}

func (a *asyncDigest) Add(e *registry.Entry) {
	a.chunk = append(a.chunk, *e)
	if len(a.chunk) == digestChunk {
		a.ch <- a.chunk
		a.chunk = make([]registry.Entry, 0, digestChunk)
	}
}

// Close waits until every entry is in the digest.
func (a *asyncDigest) Close() {
	if len(a.chunk) > 0 {
		a.ch <- a.chunk
	}
	a.chunk = nil
	close(a.ch)
	<-a.done
}
