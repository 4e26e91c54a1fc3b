package main

import (
	"context"

	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxfile"
	"github.com/murderkit/murderkit/mboxlist"
)

type convertOptions struct {
	to           string
	cyrusVersion string
	reverseACLs  string
	admins       []string
	lossy        bool
}

func newConvertCommand() *cobra.Command {
	var o convertOptions
	cmd := &cobra.Command{
		Use:   "convert SRC DST --to twoskip|skiplist|json|legacy [--cyrus-version V] [--reverseacls auto|on|off] [--admins A,B] [--lossy]",
		Short: "Convert a mailboxes.db or dump to another format and Cyrus version",
		Long: `Read every mailbox of SRC (any format and Cyrus version, detected from the
content) and write DST in the format given by --to, with the values of
--cyrus-version (default 3.6):

  twoskip   a mailboxes.db in twoskip checkpoint form (no BLANK records, so
            2.5 and 3.0 read it too); Cyrus 2.5 and later
  skiplist  a mailboxes.db in skiplist checkpoint form; every version
  json      the "ctl_mboxlist -d" JSON of Cyrus 3.6, 3.10 and 3.12 (same bytes)
  legacy    legacy dump lines: 3.6 = "ctl_mboxlist -u -L" input (keeps
            uniqueids, which 3.6's JSON undump requires), 2.4/2.5/3.0-3.4 =
            what their "ctl_mboxlist -d" printed and "-u" reads

The conversion keeps what Cyrus's own upgrade (ctl_cyrusdb -r) loses:
remote entries, entries without a uniqueid, reserved entries, the mailbox
types. Going back to an older version can lose fields the old version has
no place for (e.g. modseqs before 3.0, uniqueids in 2.4, a calendar type in
2.4): the command then lists every loss and exits 7 without writing DST,
unless --lossy is given.

Reverse-ACL records (3.0+) are rebuilt by Cyrus's rule for the target
version: --reverseacls auto (the default) writes them when SRC had them,
on/off force it; identifiers in --admins (imapd.conf admins) get none.

DST is written to a temporary file beside it, synced and renamed over DST
(an existing twoskip DST's generation is carried on, as Cyrus does), owner
and mode of the new file are the caller's and 0600: chown cyrus:mail before
giving it to Cyrus.

Memory: the records of DST are held and sorted in memory (about twice the
size of DST).`,
		Example: `  # a 2.4 skiplist master file to a 3.6 twoskip file
  mboxconv convert old/mailboxes.db new/mailboxes.db --to twoskip
  # back to 2.4 for a rollback, accepting the loss of modseqs
  mboxconv convert mailboxes.db rollback.db --to skiplist --cyrus-version 2.4 --lossy
  # lines for ctl_mboxlist -u -L (keeps entries without uniqueid, unlike the JSON undump)
  mboxconv convert mailboxes.db frontend.lines --to legacy`,
		Args: exactArgs(2),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			_, err := checkTarget(o.to, o.cyrusVersion, o.reverseACLs)
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConvert(cmd.Context(), o, args[0], args[1], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.to, "to", "", "output format: twoskip, skiplist, json or legacy")
	f.StringVar(&o.cyrusVersion, "cyrus-version", "3.6", "Cyrus version of the output values: 2.4, 2.5, 3.0, 3.2, 3.4, 3.6, 3.10 or 3.12")
	f.StringVar(&o.reverseACLs, "reverseacls", "auto", "write reverse-ACL records: auto (as SRC had them), on or off")
	f.StringSliceVar(&o.admins, "admins", []string{"cyrus", "admin"}, "identifiers that get no reverse-ACL record (imapd.conf admins)")
	f.BoolVar(&o.lossy, "lossy", false, "write DST even when the target version cannot hold everything (losses listed on stderr)")
	return cmd
}

func runConvert(ctx context.Context, o convertOptions, srcPath, dst string, stdout, stderr io.Writer) (err error) {
	defer func() { err = exitErr(err) }() // mboxfile errors get their exit status
	to, _ := dbfile.ParseKind(o.to)       // checked (checkTarget)
	v, err := parseVersion(o.cyrusVersion)
	if err != nil {
		return err
	}
	kind, err := sniff(srcPath)
	if err != nil {
		return err
	}
	src, err := openSource(ctx, srcPath, kind, false, stderr)
	if err != nil {
		return err
	}
	defer src.Close()

	// Did the source have reverse-ACL (and 3.4 reverse-uniqueid) records?
	hadRACL, hadRUNQ := false, false
	if kind.IsDB() {
		err := src.Records(ctx, func(_ []byte, rec *mboxlist.Record) error {
			switch rec.Kind {
			case mboxlist.KindRACLMarker:
				hadRACL = true
			case mboxlist.KindRUNQMarker:
				hadRUNQ = true
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	racl := o.reverseACLs == "on" || (o.reverseACLs == "auto" && hadRACL)
	if v < mboxlist.V30 {
		racl = false
	}

	var all []mboxlist.Entry
	var lost []string
	dropped := 0
	err = src.Entries(ctx, func(e *mboxlist.Entry) error {
		// An entry whose type the target cannot store is left out (with
		// --lossy).
		ce, l, keep := convert.ConvertEntry(src.Version, v, e)
		lost = append(lost, l...)
		if !keep {
			dropped++
			return nil
		}
		all = append(all, ce)
		return nil
	})
	if err != nil {
		return err
	}
	if len(lost) > 0 {
		for _, l := range lost {
			fmt.Fprintf(stderr, "mboxconv: loss: %s\n", l)
		}
		if !o.lossy {
			return exitcode.With(exitcode.Lossy, fmt.Errorf("Cyrus %s cannot hold %d field(s) listed above; nothing written (rerun with --lossy to accept)", v, len(lost)))
		}
	}

	switch to {
	case dbfile.KindJSON, dbfile.KindLegacy:
		err = mboxfile.WriteFileAtomic(dst, func(w io.Writer) error {
			out := newOut(w)
			var err error
			if to == dbfile.KindJSON {
				err = mboxfile.WriteEntriesJSON(out, all)
			} else {
				err = mboxfile.WriteEntriesLegacy(out, all, v)
			}
			if err != nil {
				return err
			}
			return out.Flush()
		})
	default:
		eo := &mboxlist.EncodeOptions{Names: src.Names(), ReverseACLs: racl, Admins: o.admins,
			ReverseUniqueIDs: v == mboxlist.V34 && (hadRUNQ || (o.reverseACLs == "auto" && kind.IsDB() && src.Version == mboxlist.V34))}
		err = mboxfile.WriteDB(dst, to, v, all, eo, racl)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "mboxconv: wrote %d mailboxes to %s (%s, Cyrus %s values%s)", len(all), dst, to, v, raclNote(racl && to.IsDB()))
	if dropped > 0 {
		fmt.Fprintf(stderr, "; %d left out (--lossy)", dropped)
	}
	fmt.Fprintln(stderr)
	return nil
}

func raclNote(on bool) string {
	if on {
		return ", reverse ACLs"
	}
	return ""
}
