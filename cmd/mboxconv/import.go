package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	_ "github.com/murderkit/murderkit/registry/etcd"  // etcd:// URLs
	"github.com/murderkit/murderkit/registry/leveldb" // leveldb:// URLs
)

type importOptions struct {
	registry   string
	server     string
	batch      int
	checkpoint string
	dryRun     bool
	attempts   int
	bulk       string
	lossy      bool
	filters    filterFlags
	report     reportFlags
}

func newImportCommand() *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import SRC --registry URL [--server NAME] [--lossy] [filters] [--dry-run] [--progress auto|bar|json|none] [--quiet]",
		Short: "Import the mailboxes of a mailboxes.db, dump or registry into the registry",
		Long: `Store every mailbox of SRC (a mailboxes.db of any format and Cyrus version,
a JSON or legacy dump, or another registry's URL) in the registry at URL
(leveldb:///path or etcd://host:port,.../prefix).

Absent entries are created, different ones replaced, equal ones left alone,
so running the same import again is a no-op that exits 0. Tombstones of
imported names are removed.

A backend's own mailboxes.db has no server in its entries: --server NAME
records them at NAME!partition. Without --server, entries without a server
keep none; but where such an entry would replace a registry entry that has
a server (the registry is in use: that would lose where the mailbox lives),
the import is refused before anything is written (exit status 7), naming
the entries; --lossy stores them anyway.

Tombstones: Cyrus keeps an entry with the d flag (mbtype "ed") under the
old name of a renamed or deleted mailbox. It is stored as it is (an export
gives it back), never shown as a mailbox by the bridge, and never replaces
a live registry entry of the same name: that entry stays, the tombstone is
left out and a warning names it.

Filters (--slot, --only-server, --partition, --domain, --prefix; each may
repeat or take a comma list) select entries after --server is applied.

Resumable: after every batch the number of source entries done is saved in
a checkpoint file (--checkpoint; by default under $XDG_STATE_HOME or
~/.local/state/mboxconv/, named after the job: source path, size and
mtime, registry URL, --server, filters). Killed at any moment (kill -9
included), the same command continues after the last saved batch. A batch
stored twice changes nothing, so the result equals an uninterrupted run.

Live files: the file is read without locks, so a running Cyrus is never
blocked. When Cyrus checkpoints, replaces or truncates the file while it is
read, the read is detected as inconsistent and the import starts again on
the new file (up to --attempts times); everything stored from the old
snapshot is corrected by the new pass. Following later changes is the
bridge's job.

Verified: after the last batch the registry is listed and, per slot, the
count and a content digest of the imported names are compared with the
source's; a difference is exit status 5.

--dry-run writes nothing and says how many entries would be created,
updated or left unchanged. Progress goes to stderr: a bar on a terminal
(entries/s, ETA), JSON lines with --progress json, nothing with --quiet,
which also drops the closing summary line on stdout (--summary json
prints the summary as JSON instead: counts, by type, per-slot digests).

Bulk: into an empty leveldb registry (nothing ever written, no slots) the
import is one step (--bulk auto, the default): the registry's tables are
written directly, sorted, and installed at the end in one atomic step, many
times faster than batches. It needs the source in dbname order, as a Cyrus
3.x mailboxes.db is: a JSON dump in another order is read again and sorted
first (memory stays bounded: what does not fit goes to temporary files in
$TMPDIR, about 60% of the dump's size, removed at the end). With --bulk
off, the import goes in batches. A bulk import writes no checkpoint:
killed before the end, the registry is still empty and the same command
starts over; killed after it, the same command finds every entry stored
and only verifies. The change log
of a bulk-filled registry starts after the import (a Watch from before it
gets "revision compacted" and lists instead).

A leveldb registry has one owner process: stop murder-bridge first.`,
		Example: `  mboxconv import /var/lib/cyrus/mailboxes.db --registry leveldb:///var/lib/murder-bridge/registry
  mboxconv import backend1-mailboxes.db --server backend1 --registry etcd://10.0.0.1:2379,10.0.0.2:2379/murder
  mboxconv import mailboxes.db --registry leveldb:///srv/reg --domain example.com --dry-run
  mboxconv import mailboxes.db --registry leveldb:///srv/reg --progress json 2>progress.log`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.registry == "" {
				return exitcode.With(exitcode.Usage, fmt.Errorf("--registry URL is required"))
			}
			if o.batch < 1 {
				return exitcode.With(exitcode.Usage, fmt.Errorf("--batch must be at least 1"))
			}
			if o.attempts < 1 {
				return exitcode.With(exitcode.Usage, fmt.Errorf("--attempts must be at least 1"))
			}
			if o.bulk != "auto" && o.bulk != "off" {
				return exitcode.With(exitcode.Usage, fmt.Errorf("--bulk must be auto or off, not %q", o.bulk))
			}
			return o.report.check()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd.Context(), o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.registry, "registry", "", "registry URL: leveldb:///path or etcd://hosts/prefix")
	f.StringVar(&o.server, "server", "", "server name for entries that have none (a backend's own mailboxes.db)")
	f.IntVar(&o.batch, "batch", 1000, "entries per registry transaction")
	f.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint file (default: under $XDG_STATE_HOME/mboxconv, named after the job)")
	f.BoolVar(&o.dryRun, "dry-run", false, "write nothing; say what would be created, updated or left unchanged")
	f.IntVar(&o.attempts, "attempts", 5, "reads of a live file that changes under the reader before giving up")
	f.StringVar(&o.bulk, "bulk", "auto", "auto: fill an empty leveldb registry in one step (tables written directly); off: always in batches")
	f.BoolVar(&o.lossy, "lossy", false, "let entries without a server replace registry entries that have one (dropping their location)")
	o.filters.add(cmd)
	o.report.add(cmd)
	return cmd
}

// isRegistryURL tells a registry URL from a file path.
func isRegistryURL(s string) bool { return strings.Contains(s, "://") }

// runImport imports src. An import into a leveldb path that did not exist
// which fails before it stored anything (or a dry run) removes the
// directories it created: a mistyped path leaves no empty registry behind.
// A registry holding anything stays (an interrupted import resumes there).
func runImport(ctx context.Context, o importOptions, src string, stdout, stderr io.Writer) (err error) {
	defer func() { err = exitErr(err) }() // mboxfile errors get their exit status
	created := newRegistryDir(o.registry)
	err = importInto(ctx, o, src, stdout, stderr)
	if created != "" && (err != nil || o.dryRun) {
		removed, rerr := removeIfNothingStored(context.WithoutCancel(ctx), o.registry, created)
		switch {
		case rerr != nil:
			fmt.Fprintf(stderr, "mboxconv: warning: could not check or remove the new registry directory %s: %v\n", created, rerr)
		case removed && err != nil:
			fmt.Fprintf(stderr, "mboxconv: note: removed %s again: the failed import stored nothing there\n", created)
		case !removed && err != nil:
			fmt.Fprintf(stderr, "mboxconv: note: %s holds what the import stored before it failed; the same command resumes\n", created)
		}
	}
	return err
}

func importInto(ctx context.Context, o importOptions, src string, stdout, stderr io.Writer) error {
	// An import allocates a little per entry and keeps little: collect
	// garbage less often (a quarter of the collector's CPU at 1M entries),
	// within a soft limit that keeps the process under 512 MB.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(448 << 20))
	store, err := openRegistry(ctx, o.registry, false, hintLockedImport)
	if err != nil {
		return err
	}
	defer func() { // store is replaced by a bulk import or its fallback
		if store != nil {
			store.Close()
		}
	}()
	flt, err := o.filters.filter(ctx, store)
	if err != nil {
		return err
	}
	slots, err := store.ListSlots(ctx)
	if err != nil {
		return exitcode.With(exitcode.Registry, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.report.quiet {
		log = slog.New(slog.DiscardHandler)
	}

	// Bulk into an empty leveldb registry: Build needs the directory
	// unlocked, and opens it again afterwards for the verification.
	var bulk bulkFunc
	if o.bulk == "auto" && !o.dryRun && strings.HasPrefix(o.registry, "leveldb:") && len(slots) == 0 {
		rev, err := store.Revision(ctx)
		if err != nil {
			return exitcode.With(exitcode.Registry, err)
		}
		if rev == 0 {
			path, lo, err := leveldb.ParseURL(o.registry)
			if err != nil {
				return exitcode.With(exitcode.Usage, err)
			}
			store.Close()
			store = nil
			bulk = func(ctx context.Context, feed func(add func(registry.Entry) error) error) (registry.Store, registry.ImportStats, error) {
				st, err := leveldb.Build(ctx, path, lo, feed)
				if err != nil {
					return nil, st, err
				}
				store, err = registry.Open(ctx, o.registry)
				return store, st, err
			}
		}
	}

	var sum *convert.Summary
	attempt := 0
	// A bulk import first streams a JSON dump in its own order; out of
	// dbname order, it reads it again sorted (sortedByDBName: bounded
	// memory) for a second bulk attempt.
	stream := bulk != nil
	for {
		attempt++
		sum, err = importOnce(ctx, o, src, store, flt, slots, log, stderr, bulk, stream)
		if bulk != nil && stream && errors.Is(err, leveldb.ErrUnsorted) && !isRegistryURL(src) {
			// Nothing was written: read the dump again, sorted.
			log.Info("source not in dbname order; sorting it for the bulk import", "reason", err)
			stream = false
			attempt--
			continue
		}
		if bulk != nil && (errors.Is(err, leveldb.ErrUnsorted) || errors.Is(err, leveldb.ErrNotEmpty)) {
			// Nothing was written: import in batches instead.
			log.Info("bulk import not possible; importing in batches", "reason", err)
			bulk, stream = nil, false
			attempt--
			if store, err = openRegistry(ctx, o.registry, false, hintLockedImport); err != nil {
				return err
			}
			continue
		}
		if err == nil || !errors.Is(err, cyrusdb.ErrChanged) || attempt >= o.attempts {
			break
		}
		log.Warn("source changed while reading; reading the new snapshot", "source", src, "attempt", attempt, "err", err)
	}
	if err != nil {
		var ve *convert.VerifyError
		var se *convert.ServerlessError
		switch {
		case errors.As(err, &se):
			return exitcode.With(exitcode.Lossy, fmt.Errorf("refused: %w. A backend's own mailboxes.db has no server names: give --server NAME (that backend's servername), or --lossy to store them without a server", err))
		case errors.As(err, &ve):
			return exitcode.With(exitcode.Registry, err)
		case errors.Is(err, cyrusdb.ErrChanged):
			return exitcode.With(exitcode.Input, fmt.Errorf("%w (gave up after %d attempts)", err, attempt))
		case errors.Is(err, mboxlist.ErrCyrusLimit): // a bad source entry, from a file or a registry
			return exitcode.With(exitcode.Input, err)
		}
		if classified(err) { // a source's error (mboxfile) included
			return exitErr(err)
		}
		if isRegistryURL(src) || strings.Contains(err.Error(), "registry") {
			return exitcode.With(exitcode.Registry, err)
		}
		return inputErr(src, err)
	}
	sum.Attempts = attempt
	return o.report.summary(stdout, stderr, sum, "imported", src)
}

// importOnce makes one pass over the source.
// bulkFunc is convert.ImportOptions.Bulk.
type bulkFunc = func(ctx context.Context, feed func(add func(registry.Entry) error) error) (registry.Store, registry.ImportStats, error)

func importOnce(ctx context.Context, o importOptions, src string, store registry.Store, flt convert.Filter, slots []registry.Slot, log *slog.Logger, stderr io.Writer, bulk bulkFunc, streamJSON bool) (*convert.Summary, error) {
	each, total, ident, closeFn, err := openEntrySource(ctx, src, o.report.progressOn(stderr), streamJSON, stderr)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	job := convert.JobKey("import", ident, o.registry, o.server, flt.String())
	cpPath := o.checkpoint
	if cpPath == "" {
		if cpPath, err = convert.DefaultCheckpointPath(job); err != nil {
			return nil, exitcode.With(exitcode.Output, fmt.Errorf("checkpoint: %w (give --checkpoint FILE)", err))
		}
	}
	return convert.Import(ctx, each, store, convert.ImportOptions{
		Server: o.server, Batch: o.batch, Filter: flt, DryRun: o.dryRun,
		Checkpoint: cpPath, Job: job, Progress: o.report.progress(stderr), Total: total,
		SlotOf: convert.SlotBy(slots), Log: log, Bulk: bulk, AllowServerless: o.lossy,
	})
}

// openEntrySource opens a file (any format) or a registry URL as an entry
// source. total is the number of entries when cheap to know (-1 otherwise);
// ident identifies the content for checkpoints. With streamJSON a JSON
// dump's entries come in the dump's order as they are read (memory does
// not grow with the dump); a bulk import, which needs dbname order anyway,
// refuses them when they are not in that order (leveldb.ErrUnsorted) and
// reads the dump again without streamJSON: sorted by dbname through
// temporary files (sortedByDBName), memory bounded as well.
func openEntrySource(ctx context.Context, src string, wantTotal, streamJSON bool, stderr io.Writer) (each convert.EntrySource, total int64, ident string, closeFn func(), err error) {
	total = -1
	if isRegistryURL(src) {
		st, err := openRegistry(ctx, src, true, hintLockedSource)
		if err != nil {
			return nil, 0, "", nil, err
		}
		if wantTotal {
			if n, err := st.Count(ctx, ""); err == nil {
				total = int64(n)
			}
		}
		each = func(ctx context.Context, fn func(e *mboxlist.Entry) error) error {
			_, err := st.List(ctx, "", func(e registry.Entry) error { return fn(&e.Entry) })
			return err
		}
		// A registry changes without a size or mtime: the job key is the
		// URL and the checkpoint relies on the idempotent import.
		return each, total, "registry\x00" + src, func() { st.Close() }, nil
	}
	ident, err = convert.FileIdentity(src)
	if err != nil {
		return nil, 0, "", nil, exitcode.With(exitcode.Input, err)
	}
	kind, err := sniff(src)
	if err != nil {
		return nil, 0, "", nil, err
	}
	s, err := openSource(ctx, src, kind, false, stderr)
	if err != nil {
		return nil, 0, "", nil, err
	}
	s.StreamJSON = streamJSON
	if wantTotal {
		if n, ok := s.Count(); ok {
			total = n
		}
	}
	return s.Entries36, total, ident, func() { s.Close() }, nil
}

// reportFlags are the progress and summary flags shared by import and export.
type reportFlags struct {
	progressMode string
	quiet        bool
	summaryJSON  bool
	summaryFmt   string
}

func (r *reportFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.progressMode, "progress", "auto", "progress on stderr: auto (a bar on a terminal), bar, json (one JSON line a second) or none")
	f.BoolVarP(&r.quiet, "quiet", "q", false, "no progress and no closing summary (errors only)")
	f.StringVar(&r.summaryFmt, "summary", "text", "closing summary on stdout: text (one line) or json")
}

func (r *reportFlags) check() error {
	switch convert.ProgressMode(r.progressMode) {
	case convert.ProgressAuto, convert.ProgressBar, convert.ProgressJSON, convert.ProgressNone:
	default:
		return exitcode.With(exitcode.Usage, fmt.Errorf("--progress must be auto, bar, json or none, not %q", r.progressMode))
	}
	switch r.summaryFmt {
	case "text", "json":
	default:
		return exitcode.With(exitcode.Usage, fmt.Errorf("--summary must be text or json, not %q", r.summaryFmt))
	}
	return nil
}

func (r *reportFlags) progress(stderr io.Writer) convert.Progress {
	if r.quiet {
		return convert.NewProgress(convert.ProgressNone, stderr)
	}
	return convert.NewProgress(convert.ProgressMode(r.progressMode), stderr)
}

// progressOn reports whether a progress reporter will show anything (then
// a total is worth a counting pass).
func (r *reportFlags) progressOn(stderr io.Writer) bool {
	if r.quiet || r.progressMode == "none" {
		return false
	}
	return r.progressMode != "auto" || convert.IsTerminal(stderr)
}

// summary prints the closing summary: one text line on stdout (nothing
// with --quiet), or the JSON object with --summary json.
func (r *reportFlags) summary(stdout, stderr io.Writer, s *convert.Summary, verb, from string) error {
	for _, w := range s.Warnings {
		if !r.quiet {
			fmt.Fprintf(stderr, "mboxconv: warning: %s\n", w)
		}
	}
	if r.summaryFmt == "json" {
		b, _ := json.MarshalIndent(s, "", "  ")
		_, err := stdout.Write(append(b, '\n'))
		return outputErr(err)
	}
	if r.quiet {
		return nil
	}
	_, err := fmt.Fprintln(stdout, s.Text(verb, from))
	return outputErr(err)
}

// filterFlags are the entry filters shared by import, export and verify.
type filterFlags struct {
	slot                                   string
	servers, partitions, domains, prefixes []string
}

func (ff *filterFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&ff.slot, "slot", "", "only entries whose preferred location is in this registry slot")
	f.StringSliceVar(&ff.servers, "only-server", nil, "only entries on these servers (the preferred location)")
	f.StringSliceVar(&ff.partitions, "partition", nil, "only entries on these partitions")
	f.StringSliceVar(&ff.domains, "domain", nil, "only names in these domains (the part before !; \".\" for names without a domain)")
	f.StringSliceVar(&ff.prefixes, "prefix", nil, "only these names and the names below them (user.foo: user.foo and user.foo.*)")
}

// filter builds the filter; a slot is looked up in store (nil: no registry).
func (ff *filterFlags) filter(ctx context.Context, store registry.SlotStore) (convert.Filter, error) {
	f := convert.Filter{Slot: ff.slot, Servers: ff.servers, Partitions: ff.partitions, Prefixes: ff.prefixes}
	for _, d := range ff.domains {
		if d == "." {
			d = "" // the default domain: a shell cannot pass an empty list item
		}
		f.Domains = append(f.Domains, d)
	}
	if ff.slot != "" {
		if store == nil {
			return f, exitcode.With(exitcode.Usage, fmt.Errorf("--slot needs a registry"))
		}
		s, err := store.GetSlot(ctx, ff.slot)
		if err != nil {
			if errors.Is(err, registry.ErrNotFound) {
				return f, exitcode.With(exitcode.Usage, fmt.Errorf("--slot %s: no such slot in the registry", ff.slot))
			}
			return f, exitcode.With(exitcode.Registry, err)
		}
		f.SlotDef = &s
	}
	return f, nil
}
