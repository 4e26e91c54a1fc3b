package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxfile"
	"github.com/murderkit/murderkit/mboxlist"
)

type exportOptions struct {
	registry     string
	to           string
	cyrusVersion string
	reverseACLs  string
	admins       []string
	lossy        bool
	dryRun       bool
	bridgeFlags  // --bridge URL instead of --registry
	filters      filterFlags
	report       reportFlags
}

func newExportCommand() *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:   "export (--registry URL | --bridge URL [--token-file F]) DST --to twoskip|skiplist|json|legacy [--cyrus-version V] [--slot S] [filters]",
		Short: "Write the registry's mailboxes (or a slot of them) as a mailboxes.db or dump",
		Long: `List the registry at URL from one consistent snapshot, keep the entries the
filters select (--slot S: the locations of registry slot S; --only-server,
--partition, --domain, --prefix) and write DST in the format of --to with the
values of --cyrus-version (default 3.6), as "mboxconv convert" does:
(--bridge URL reads the registry through a running bridge's HTTP API
instead, GET /v1/mailboxes, the way while the bridge owns a leveldb
registry; --token-file gives its bearer token, which it needs. A
--registry URL must name an existing registry.)

  twoskip   a mailboxes.db in twoskip checkpoint form; Cyrus 2.5 and later
  skiplist  a mailboxes.db in skiplist checkpoint form; every version
  json      the "ctl_mboxlist -d" JSON of Cyrus 3.6, 3.10 and 3.12 (same bytes)
  legacy    legacy dump lines of the version

A file holds one location per mailbox: an entry with several locations
keeps its preferred primary, and that is a loss. Every loss (also fields the
target version has no place for) is listed on stderr and the command exits
7 without writing DST unless --lossy is given.

Reverse-ACL records (3.0+) are rebuilt by Cyrus's rule for the target
version (docs/cyrus-db.md §4.3): --reverseacls on writes them, off (and
auto, since a registry keeps none and Cyrus's reverseacls defaults to 0)
leaves them out; identifiers in --admins get none. Cyrus started with
reverseacls: 1 builds them itself on first open.

DST is written to a temporary file beside it, synced and renamed over DST:
killed at any moment, DST is either the old file or the whole new one, and
running the same command again (which removes the temporary files a killed
run left, ".DST.tmp*") gives the same result as an uninterrupted run.
Checkpoint (twoskip, skiplist): once every entry is listed and spooled,
the spool is sealed (synced, with the counts and digests so far); a run of
the same command killed after that point is continued by the next one from
the spool, without listing again, as long as the registry's revision has
not moved (otherwise it starts over).

Verified: DST is read back and its count and content digest per slot are
compared with the exported entries (after conversion); a difference is
exit status 4. --dry-run reads and converts but writes nothing.

Memory: twoskip and skiplist output is not held. Each record is encoded as
it is listed and spooled in a directory ".DST.tmp-spool*" beside DST (the
N records in the registry's order, which is theirs in the file; the I and
reverse-ACL records, and any record out of the file's order, as before 3.0
where keys are internal names, sorted in 32 MB runs), then merged into DST:
about the size of DST again in temporary disk space.
json and legacy output holds the converted entries.

Cores: entries are converted, digested and encoded on every core
(GOMAXPROCS) while the registry is listed, the merge and the writer run
side by side, and the read-back decodes and digests DST on every core.
The output does not depend on the number of cores.`,
		Example: `  mboxconv export --registry leveldb:///var/lib/murder-bridge/registry mailboxes.db --to twoskip
  mboxconv export --registry etcd://10.0.0.1:2379/murder backend1.db --to twoskip --slot backend1
  mboxconv export --registry leveldb:///srv/reg rollback.db --to skiplist --cyrus-version 2.4 --lossy
  mboxconv export --bridge http://127.0.0.1:8405 --token-file token master.db --to twoskip`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.registry == "" && o.bridge == "":
				return exitcode.With(exitcode.Usage, fmt.Errorf("--registry URL or --bridge URL is required"))
			case o.registry != "" && o.bridge != "":
				return exitcode.With(exitcode.Usage, fmt.Errorf("give --registry URL or --bridge URL, not both"))
			}
			if err := o.bridgeFlags.check(); err != nil {
				return err
			}
			if _, err := checkTarget(o.to, o.cyrusVersion, o.reverseACLs); err != nil {
				return err
			}
			return o.report.check()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd.Context(), o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.registry, "registry", "", "registry URL: leveldb:///path or etcd://hosts/prefix")
	f.StringVar(&o.to, "to", "", "output format: twoskip, skiplist, json or legacy")
	f.StringVar(&o.cyrusVersion, "cyrus-version", "3.6", "Cyrus version of the output values: 2.4, 2.5, 3.0, 3.2, 3.4, 3.6, 3.10 or 3.12")
	f.StringVar(&o.reverseACLs, "reverseacls", "auto", "write reverse-ACL records: auto (= off for a registry), on or off")
	f.StringSliceVar(&o.admins, "admins", []string{"cyrus", "admin"}, "identifiers that get no reverse-ACL record (imapd.conf admins)")
	f.BoolVar(&o.lossy, "lossy", false, "write DST even when it cannot hold everything (losses listed on stderr)")
	f.BoolVar(&o.dryRun, "dry-run", false, "read and convert, list losses, write nothing")
	o.bridgeFlags.add(cmd)
	o.filters.add(cmd)
	o.report.add(cmd)
	return cmd
}

// checkTarget validates --to, --cyrus-version and --reverseacls (convert
// and export) and returns the kind of --to.
func checkTarget(to, version, racl string) (dbfile.Kind, error) {
	kind, ok := dbfile.ParseKind(to)
	switch {
	case to == "":
		return 0, exitcode.With(exitcode.Usage, errors.New("--to is required (twoskip, skiplist, json or legacy)"))
	case !ok:
		return 0, exitcode.With(exitcode.Usage, fmt.Errorf("--to must be twoskip, skiplist, json or legacy, not %q", to))
	}
	v, err := parseVersion(version)
	if err != nil {
		return 0, err
	}
	if kind == dbfile.KindJSON && !v.ByID() {
		return 0, exitcode.With(exitcode.Usage, fmt.Errorf("--to json is the Cyrus 3.6-and-later dump; for %s use --to legacy", v))
	}
	if kind == dbfile.KindTwoskip && v < mboxlist.V25 {
		return 0, exitcode.With(exitcode.Usage, fmt.Errorf("Cyrus %s has no twoskip backend; use --to skiplist", v))
	}
	switch racl {
	case "auto", "on", "off":
	default:
		return 0, exitcode.With(exitcode.Usage, fmt.Errorf("--reverseacls must be auto, on or off, not %q", racl))
	}
	return kind, nil
}

// exportCheckpoint is the meta of a sealed spool: what an export of the job
// had listed, at which registry revision.
type exportCheckpoint struct {
	Job      string                       `json:"job"`
	Revision int64                        `json:"revision"`
	Summary  *convert.Summary             `json:"summary"`
	Digest   map[string]convert.SlotState `json:"digest"`
}

// exportSealedHook, when set (tests), runs right after the spool is sealed;
// an error it returns ends the export there, as a kill would, leaving the
// sealed spool.
var exportSealedHook func() error

// removeStaleTemps removes the temporary files a killed writer of dst left
// (spool directories too), except keep.
func removeStaleTemps(dst string, keep ...string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), "."+globEscape(filepath.Base(dst))+".tmp*"))
	for _, m := range matches {
		if !slices.Contains(keep, m) {
			os.RemoveAll(m)
		}
	}
}

// spoolError is a failure to write the export's spool (an output error,
// not the registry's).
type spoolError struct{ err error }

func (e *spoolError) Error() string { return e.err.Error() }

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// spoolDir is the spool directory of an export job to dst: named after the
// job, so that a rerun of the same job finds a sealed spool
// (mboxfile.RecordSpool.Seal).
func spoolDir(dst, job string) string {
	return filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-spool-"+job[:16])
}

// exportRun is one run of export: what its steps share.
type exportRun struct {
	o              exportOptions
	dst            string
	stdout, stderr io.Writer

	to          dbfile.Kind // --to
	v           mboxlist.Version
	store       readStore
	flt         convert.Filter
	prog        convert.Progress
	ignoreMtime bool // legacy dump lines carry no mtime: left out of both digests
	db          bool // twoskip or skiplist: records are spooled, not entries held
	racl        bool
	sum         *convert.Summary
	all         []mboxlist.Entry // json and legacy: the converted entries

	// A spool that a killed run of the same job sealed, while the registry
	// has not changed since, holds everything the listing would give:
	// continue from it (see Seal).
	spool     *mboxfile.RecordSpool
	job       string
	rev0      int64
	resumed   bool
	sealed    bool
	keepSpool bool // the spool outlives the run (sealed, for a rerun)
}

// runExport lists the registry into DST and reads DST back: open the
// registry, continue from a sealed spool or start one, list and convert,
// seal, write DST, verify it.
func runExport(ctx context.Context, o exportOptions, dst string, stdout, stderr io.Writer) (err error) {
	defer func() { err = exitErr(err) }() // mboxfile errors get their exit status
	r := &exportRun{o: o, dst: dst, stdout: stdout, stderr: stderr}
	r.to, _ = dbfile.ParseKind(o.to) // checked (checkTarget)
	r.v, _ = parseVersion(o.cyrusVersion)
	if err := r.open(ctx); err != nil {
		return err
	}
	defer r.store.Close()
	defer func() {
		if r.spool != nil && !r.keepSpool {
			r.spool.Remove()
		}
	}()
	if r.db && !o.dryRun {
		if err := r.resume(ctx); err != nil {
			return err
		}
		if !r.resumed {
			if err := r.startSpool(); err != nil {
				return err
			}
		}
	}
	if !r.resumed {
		if err := r.list(ctx); err != nil {
			return err
		}
		if o.dryRun {
			r.sum.Created = int(r.sum.Selected)
			return o.report.summary(stdout, stderr, r.sum, "would export", r.o.registry)
		}
		if err := r.seal(ctx); err != nil {
			return err
		}
	}
	if err := r.write(); err != nil {
		return err
	}
	if err := r.verify(ctx); err != nil {
		return err
	}
	return o.report.summary(stdout, stderr, r.sum, "exported", r.o.registry)
}

// open opens the registry (or the bridge) and the filters, and sets up the
// summary.
func (r *exportRun) open(ctx context.Context) error {
	o := &r.o
	var err error
	if o.bridge != "" {
		r.store, err = o.bridgeFlags.open()
		o.registry = o.bridge // names the source in the job key and the summary
	} else {
		r.store, err = openRegistry(ctx, o.registry, true, hintLockedRead)
	}
	if err != nil {
		return err
	}
	if r.flt, err = o.filters.filter(ctx, r.store); err != nil {
		r.store.Close()
		return err
	}
	r.prog = o.report.progress(r.stderr)
	r.ignoreMtime = r.to == dbfile.KindLegacy
	r.sum = &convert.Summary{ByType: map[string]int{}, Warnings: []string{}, DryRun: o.dryRun,
		Digest: &convert.Digest{IgnoreMtime: r.ignoreMtime}}
	// Each entry is converted as it is listed. json and legacy hold the
	// converted entries; twoskip and skiplist hold none: their records are
	// encoded at once and spooled to disk (recordSpool), the N records in
	// the registry's order (raw 3.6 dbname, the files' order of those keys),
	// the others sorted in bounded runs, and merged into DST at the end.
	r.db = r.to.IsDB()
	r.racl = o.reverseACLs == "on" && r.v >= mboxlist.V30
	return nil
}

// resume names the job and continues from the spool a killed run of it
// sealed, when the registry has not changed since.
func (r *exportRun) resume(ctx context.Context) error {
	o := &r.o
	abs, err := filepath.Abs(r.dst)
	if err != nil {
		return outputErr(err)
	}
	r.job = convert.JobKey("export", o.registry, abs, o.to, o.cyrusVersion, o.reverseACLs, strings.Join(o.admins, ","), r.flt.String(), strconv.FormatBool(o.lossy))
	if r.rev0, err = r.store.Revision(ctx); err != nil {
		return exitcode.With(exitcode.Registry, err)
	}
	var cp exportCheckpoint
	sp, ok, err := mboxfile.OpenSealedSpool(spoolDir(r.dst, r.job), r.to.Compare(), &cp)
	if err == nil && ok && cp.Job == r.job && cp.Revision == r.rev0 && cp.Summary != nil {
		r.spool, r.resumed, r.sealed = sp, true, true
		removeStaleTemps(r.dst, r.spool.Dir()) // a file the killed run was writing
		r.sum = cp.Summary
		r.sum.Digest = &convert.Digest{IgnoreMtime: r.ignoreMtime}
		r.sum.Digest.Restore(cp.Digest)
		r.sum.Resumed = r.sum.Selected
		for _, l := range r.sum.Warnings {
			fmt.Fprintf(r.stderr, "mboxconv: loss: %s\n", l)
		}
	}
	return nil
}

// startSpool starts a new spool of the job (with the reverse-ACL marker
// record when the target has reverse ACLs).
func (r *exportRun) startSpool() error {
	removeStaleTemps(r.dst)
	var err error
	r.spool, err = mboxfile.NewRecordSpool(spoolDir(r.dst, r.job), r.to.Compare(), mboxfile.SpoolBudget)
	if err != nil {
		return outputErr(err)
	}
	if r.racl {
		if m := mboxlist.RACLMarker(r.v); m != nil {
			if err := r.spool.Add(m.Key, m.Value, false); err != nil {
				return outputErr(err)
			}
		}
	}
	return nil
}

// list lists the registry and converts every entry the filters keep,
// counting, collecting losses and spooling records (or holding entries).
// Listing (the registry's decoding, on this goroutine), the per-entry work
// (filter, conversion, digest, encoding: convert.Workers, in batches) and the
// rest (losses, counts and spooling, in the listing's order: one goroutine)
// run in parallel; see convert.ExportPipeline.
func (r *exportRun) list(ctx context.Context) error {
	o, sum, spool := &r.o, r.sum, r.spool
	total := int64(-1)
	if o.report.progressOn(r.stderr) {
		if n, err := r.store.Count(ctx, r.flt.ListPrefix()); err == nil {
			total = int64(n)
		}
	}
	r.prog.Start("read registry", total)
	var lost []string
	var encErr error
	eo := &mboxlist.EncodeOptions{ReverseACLs: r.racl, Admins: o.admins}
	p := &convert.ExportPipeline{Filter: r.flt, Version: r.v, Legacy: r.to == dbfile.KindLegacy, DB: r.db, Encode: spool != nil, EncodeOptions: eo, IgnoreMtime: r.ignoreMtime}
	p.Take = func(it *convert.ExportItem) error {
		if !it.Matched {
			return nil
		}
		sum.Read++
		lost = append(lost, it.Lost...)
		if it.Skipped {
			sum.Skipped++
			return nil
		}
		sum.Selected++
		sum.ByType[it.Type]++
		switch {
		case !r.db:
			r.all = append(r.all, it.Entry)
		case spool != nil && encErr == nil:
			// An encoding error is reported after the losses, as
			// writeDB would; the listing goes on to collect them.
			if it.EncodeErr != nil {
				encErr = exitcode.With(exitcode.Lossy, fmt.Errorf("%s: %w", it.Name, it.EncodeErr))
				return nil
			}
			for i, kv := range it.Records {
				if err := spool.Add(kv.Key, kv.Value, i == 0); err != nil {
					return &spoolError{err}
				}
			}
		}
		return nil
	}
	err := p.Run(ctx, r.store, r.flt.ListPrefix(), r.prog)
	for _, d := range p.Digests {
		sum.Digest.Merge(d)
	}
	if err == nil && spool != nil {
		if ferr := spool.Wait(); ferr != nil {
			err = &spoolError{ferr}
		}
	}
	r.prog.Done()
	var se *spoolError
	if errors.As(err, &se) {
		return outputErr(se.err)
	}
	if err != nil {
		return exitcode.With(exitcode.Registry, err)
	}
	for _, l := range lost {
		fmt.Fprintf(r.stderr, "mboxconv: loss: %s\n", l)
	}
	if len(lost) > 0 && !o.lossy {
		return exitcode.With(exitcode.Lossy, fmt.Errorf("%s (Cyrus %s) cannot hold %d field(s) listed above; nothing written (rerun with --lossy to accept)", r.to, r.v, len(lost)))
	}
	if encErr != nil {
		return encErr
	}
	sum.Warnings = append(sum.Warnings, lost...)
	sum.FillSlots()
	return nil
}

// seal checkpoints a spool that holds everything listed, if the registry
// did not change meanwhile (the spool is then its state at rev0).
func (r *exportRun) seal(ctx context.Context) error {
	if r.spool == nil {
		return nil
	}
	rev1, rerr := r.store.Revision(ctx)
	if rerr != nil || rev1 != r.rev0 {
		return nil
	}
	cp := exportCheckpoint{Job: r.job, Revision: r.rev0, Summary: r.sum, Digest: r.sum.Digest.State()}
	if err := r.spool.Seal(&cp); err != nil {
		return outputErr(err)
	}
	r.sealed = true
	if exportSealedHook != nil {
		if err := exportSealedHook(); err != nil {
			r.keepSpool = true
			return err
		}
	}
	return nil
}

// write writes DST: json and legacy from the held entries, twoskip and
// skiplist from the spool.
func (r *exportRun) write() error {
	r.prog.Start("write "+r.to.String(), -1)
	var err error
	switch r.to {
	case dbfile.KindJSON, dbfile.KindLegacy:
		// The order of ctl_mboxlist -d: raw 3.6 dbname.
		mboxfile.SortByDBName(r.all, nil)
		removeStaleTemps(r.dst)
		err = mboxfile.WriteFileAtomic(r.dst, func(w io.Writer) error {
			out := newOut(w)
			var err error
			if r.to == dbfile.KindJSON {
				err = mboxfile.WriteEntriesJSON(out, r.all)
			} else {
				err = mboxfile.WriteEntriesLegacy(out, r.all, r.v)
			}
			if err != nil {
				return err
			}
			return out.Flush()
		})
	default:
		err = mboxfile.WriteDBFromSpool(r.dst, r.to, r.spool)
	}
	r.prog.Add(int(r.sum.Selected))
	r.prog.Done()
	if err != nil {
		r.keepSpool = r.sealed // a rerun goes on from the sealed spool
		return err
	}
	r.sum.Created = int(r.sum.Selected)
	r.all = nil // the digest holds what the read-back is compared with
	return nil
}

// verify reads DST back and compares its digest with the listing's.
func (r *exportRun) verify(ctx context.Context) error {
	var got *convert.Digest
	if st, serr := os.Stat(r.dst); serr == nil && st.Size() == 0 && r.to == dbfile.KindLegacy {
		// a legacy dump of no mailbox is zero bytes, as Cyrus's; reading
		// any file of zero bytes is refused (it is a file cut to nothing)
		got = &convert.Digest{IgnoreMtime: r.ignoreMtime}
	} else {
		var err error
		o := mboxfile.OpenOptions{AllowCrashTail: allowCrashTail, OnTail: func(t *cyrusdb.Tail) { noteTail(r.stderr, r.dst, t) }}
		if got, err = mboxfile.FileDigest(ctx, r.dst, r.ignoreMtime, o, r.v); err != nil {
			return exitErr(err)
		}
	}
	if d := r.sum.Digest.Compare(got); d != nil {
		return exitcode.With(exitcode.Output, &convert.VerifyError{What: "exported file " + r.dst, Diffs: d})
	}
	r.sum.Verified = true
	return nil
}
