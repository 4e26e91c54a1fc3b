package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxfile"
)

type dumpOptions struct {
	raw          bool
	format       string
	cyrusVersion string
	salvage      bool
}

func newDumpCommand() *cobra.Command {
	var o dumpOptions
	cmd := &cobra.Command{
		Use:   "dump [--raw] [--format json|legacy] [--cyrus-version V] [--salvage] SRC",
		Short: "Print the mailboxes of a mailboxes.db or dump as Cyrus's own tools print them",
		Long: `Print every mailbox of SRC on stdout.

SRC is a twoskip or skiplist mailboxes.db of any Cyrus version, a Cyrus 3.6
JSON dump or a legacy dump; the format is detected from the content.

--format json (the default) prints the bytes Cyrus 3.6 "ctl_mboxlist -d"
prints for a 3.6 file. Entries of an older file are shown converted to the
3.6 shape, without the losses of Cyrus's own upgrade (remote entries and
entries without a uniqueid are kept).
--format legacy prints the legacy dump lines of --cyrus-version (default
3.6, 3.10, 3.12: the "ctl_mboxlist -u -L" input; 2.4, 2.5, 3.0–3.4: what
their "ctl_mboxlist -d" printed, an entry without a partition as "(null)").
--raw prints every committed record as "cyr_dbtool SRC <format> show" does:
key, TAB, value, LF, byte for byte (database files only).

An uncommitted crash tail (a write transaction that never committed) is not
an error: the committed state is printed, a note goes to stderr, the exit
status is 0 — unless the tail is more than half of the file (exit status 3;
--allow-crash-tail reads the committed state anyway). Damage (a bad checksum, a broken pointer, keys out of order, a
truncated file) is an error naming the offset, exit status 3. --salvage
prints every intact committed record of a damaged file instead and lists
what it skipped on stderr (exit status 0 if nothing was skipped, 3 if
something was).

The file is opened read-only without locks, so it is safe on a live
mailboxes.db: the output is the state of the last commit before the read;
if Cyrus replaces or rewrites the file during the read, the command fails
(exit status 3) rather than printing a mix; run it again.`,
		Example: `  mboxconv dump /var/lib/cyrus/mailboxes.db > mailboxes.json
  mboxconv dump --raw /var/lib/cyrus/mailboxes.db | grep -a '^N'
  mboxconv dump --format legacy --cyrus-version 2.4 old-mailboxes.db
  mboxconv dump --salvage damaged-mailboxes.db > rescued.json`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if k, ok := dbfile.ParseKind(o.format); !ok || k.IsDB() {
				return exitcode.With(exitcode.Usage, fmt.Errorf("--format must be json or legacy, not %q", o.format))
			}
			if o.raw && cmd.Flags().Changed("format") {
				return exitcode.With(exitcode.Usage, fmt.Errorf("--raw and --format exclude each other"))
			}
			if _, err := parseVersion(o.cyrusVersion); err != nil {
				return err
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDump(cmd.Context(), o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.raw, "raw", false, "print the raw records as cyr_dbtool show does")
	f.StringVar(&o.format, "format", "json", "output format: json or legacy")
	f.StringVar(&o.cyrusVersion, "cyrus-version", "3.6", "legacy dump variant: 2.4, 2.5, 3.0, 3.2, 3.4, 3.6, 3.10 or 3.12")
	f.BoolVar(&o.salvage, "salvage", false, "recover every intact committed record of a damaged file; list what was skipped")
	return cmd
}

func runDump(ctx context.Context, o dumpOptions, path string, stdout, stderr io.Writer) (err error) {
	defer func() { err = exitErr(err) }() // mboxfile errors get their exit status
	kind, err := sniff(path)
	if err != nil {
		return err
	}
	if o.raw && !kind.IsDB() {
		return exitcode.With(exitcode.Usage, fmt.Errorf("%s: --raw needs a skiplist or twoskip file, this is a %s dump", path, kind))
	}
	// Nothing partial on stdout: the output is held (or taken back) until
	// the whole source was read without error (see wholeOut).
	out, err := newWholeOut(stdout, stderr)
	if err != nil {
		return err
	}
	if o.raw {
		return dumpRaw(path, kind, o.salvage, out, stderr)
	}
	v, _ := parseVersion(o.cyrusVersion)
	src, err := openSource(ctx, path, kind, o.salvage, stderr)
	if err != nil {
		return out.finish(err)
	}
	defer src.Close()
	if format, _ := dbfile.ParseKind(o.format); format == dbfile.KindLegacy {
		err = mboxfile.WriteLegacy(ctx, out, src, v)
	} else {
		err = mboxfile.WriteJSON(ctx, out, src)
	}
	if err := out.finish(err); err != nil {
		return err
	}
	// --salvage: the output holds every intact record; what was skipped is
	// listed on stderr and makes the exit status 3.
	if sv := src.Salvaged(); sv != nil {
		return reportSalvage(stderr, path, sv)
	}
	return nil
}

// dumpRaw prints the committed records like cyr_dbtool show.
func dumpRaw(path string, kind dbfile.Kind, salvage bool, out *wholeOut, stderr io.Writer) error {
	if salvage {
		src, err := mboxfile.OpenSalvaged(path, kind)
		if err != nil {
			return out.finish(exitErr(err))
		}
		if err := out.finish(inputErr(path, cyrusdb.WriteShow(out, src))); err != nil {
			return err
		}
		return reportSalvage(stderr, path, src)
	}
	db, err := openDB(path, kind)
	if err != nil {
		return out.finish(inputErr(path, err))
	}
	defer db.Close()
	noteTail(stderr, path, db.Tail())
	return out.finish(inputErr(path, cyrusdb.WriteShow(out, db)))
}

// noteTail tells the operator about an uncommitted crash tail (not an error).
func noteTail(stderr io.Writer, path string, t *cyrusdb.Tail) {
	if t != nil {
		fmt.Fprintf(stderr, "mboxconv: note: %s: %s; showing the committed state (Cyrus discards the tail on its next recovery)\n", path, t)
	}
}

// reportSalvage lists the places --salvage skipped and the records that
// may be stale or resurrected on stderr; either is exit status 3.
func reportSalvage(stderr io.Writer, path string, s *mboxfile.Salvaged) error {
	if len(s.Skipped) == 0 && len(s.Doubts) == 0 {
		if s.Ran {
			fmt.Fprintf(stderr, "mboxconv: salvage: %s: nothing skipped\n", path)
		}
		return nil
	}
	for _, sk := range s.Skipped {
		fmt.Fprintf(stderr, "mboxconv: salvage: %s: skipped %s\n", path, sk)
	}
	for _, d := range s.Doubts {
		fmt.Fprintf(stderr, "mboxconv: salvage: %s: %s\n", path, d)
	}
	return exitcode.With(exitcode.Input, fmt.Errorf("%s: salvage skipped %d damaged place(s) and output %d record(s) that may be stale or resurrected (listed above); every record output is one Cyrus committed", path, len(s.Skipped), len(s.Doubts)))
}
