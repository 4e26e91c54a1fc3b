package main

import (
	"bytes"
	"context"

	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/exitcode"
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

func runConvert(ctx context.Context, o convertOptions, srcPath, dst string, stdout, stderr io.Writer) error {
	to, _ := dbfile.ParseKind(o.to) // checked (checkTarget)
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
		err := src.records(ctx, func(_ []byte, rec *mboxlist.Record) error {
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
	err = src.entries(ctx, func(e *mboxlist.Entry) error {
		// An entry whose type the target cannot store is left out (with
		// --lossy).
		ce, l, keep := convert.ConvertEntry(src.version, v, e)
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
		err = writeFileAtomic(dst, func(w io.Writer) error {
			out := newOut(w)
			var err error
			if to == dbfile.KindJSON {
				err = writeEntriesJSON(out, all)
			} else {
				err = writeEntriesLegacy(out, all, v)
			}
			if err != nil {
				return err
			}
			return out.Flush()
		})
	default:
		eo := &mboxlist.EncodeOptions{Names: src.names, ReverseACLs: racl, Admins: o.admins,
			ReverseUniqueIDs: v == mboxlist.V34 && (hadRUNQ || (o.reverseACLs == "auto" && kind.IsDB() && src.version == mboxlist.V34))}
		err = writeDB(dst, to, v, all, eo, racl)
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

// writeDB encodes every entry for version v and writes the records, sorted
// in the target format's order, as a new skiplist or twoskip file.
func writeDB(dst string, kind dbfile.Kind, v mboxlist.Version, all []mboxlist.Entry, eo *mboxlist.EncodeOptions, racl bool) error {
	var kvs []mboxlist.KV
	if racl {
		if m := mboxlist.RACLMarker(v); m != nil {
			kvs = append(kvs, *m)
		}
	}
	if eo.ReverseUniqueIDs {
		if m := mboxlist.RUNQMarker(v); m != nil {
			kvs = append(kvs, *m)
		}
	}
	for i := range all {
		recs, err := mboxlist.EncodeRecords(v, &all[i], eo)
		if err != nil {
			return exitcode.With(exitcode.Lossy, fmt.Errorf("%s: %w", all[i].Name, err))
		}
		kvs = append(kvs, recs...)
	}
	cmpFn := kind.Compare()
	sort.SliceStable(kvs, func(i, j int) bool { return cmpFn(kvs[i].Key, kvs[j].Key) < 0 })
	kvs, err := dedupByID(kvs, eo.Names)
	if err != nil {
		return err
	}
	w, err := dbfile.Create(dst, kind.Format(), nil)
	if err != nil {
		return outputErr(err)
	}
	for _, kv := range kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			if a, ok := w.(cyrusdb.Aborter); ok {
				a.Abort()
			}
			return outputErr(err)
		}
	}
	return outputErr(w.Close())
}

// dedupByID keeps one I record of each run of sorted records that share an
// I key (entries with one uniqueid: a tombstone left by a RENAME or a
// delayed DELETE and the live mailbox), the one mboxlist.PickByID says
// Cyrus keeps. Any other repeated key is an error.
func dedupByID(kvs []mboxlist.KV, names *mboxlist.NameConfig) ([]mboxlist.KV, error) {
	out := kvs[:0]
	for i := 0; i < len(kvs); {
		j := i + 1
		for j < len(kvs) && bytes.Equal(kvs[i].Key, kvs[j].Key) {
			j++
		}
		if j-i == 1 {
			out = append(out, kvs[i])
			i = j
			continue
		}
		if kvs[i].Key[0] != mboxlist.KeyID {
			return nil, duplicateKeyErr(kvs[i].Key)
		}
		vals := make([][]byte, 0, j-i)
		for _, kv := range kvs[i:j] {
			vals = append(vals, kv.Value)
		}
		k, err := mboxlist.PickByID(kvs[i].Key, vals, names)
		if err != nil {
			return nil, exitcode.With(exitcode.Input, err)
		}
		out = append(out, kvs[i+k])
		i = j
	}
	return out, nil
}

func duplicateKeyErr(key []byte) error {
	return exitcode.With(exitcode.Input, fmt.Errorf("two records with the key %q (a name repeats): %w", key, errDuplicateKey))
}

// writeFileAtomic writes dst through a temporary file in the same
// directory, synced and renamed over dst.
func writeFileAtomic(dst string, fn func(w io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return outputErr(err)
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return outputErr(err)
	}
	if err := fn(tmp); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return outputErr(err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return outputErr(err)
	}
	return nil
}

// writeEntriesJSON writes a Cyrus 3.6 `ctl_mboxlist -d` dump of every entry
// (intermediates included: a conversion keeps everything, and an entry
// without an ACL has no acl member, which Cyrus's undump reads back as no
// ACL, where ctl_mboxlist -d would print "acl": {}).
func writeEntriesJSON(w io.Writer, all []mboxlist.Entry) error {
	enc := mboxlist.NewJSONEncoder(w)
	enc.KeepNilACL = true
	for i := range all {
		if err := enc.Add(&all[i]); err != nil {
			return outputErr(err)
		}
	}
	return outputErr(enc.Close())
}

// writeEntriesLegacy writes legacy dump lines of version v.
func writeEntriesLegacy(w io.Writer, all []mboxlist.Entry, v mboxlist.Version) error {
	var b []byte
	for i := range all {
		var err error
		b, err = mboxlist.AppendLegacyLine(b[:0], v, &all[i])
		if err != nil {
			return exitcode.With(exitcode.Lossy, fmt.Errorf("%s: %w", all[i].Name, err))
		}
		if _, err := w.Write(b); err != nil {
			return outputErr(err)
		}
	}
	return nil
}
