package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxfile"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/skiplist"
	"github.com/murderkit/murderkit/twoskip"
)

func newInspectCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE",
		Short: "Describe a mailboxes.db: format, header, Cyrus version, counts, damage",
		Long: `Describe a Cyrus mailboxes.db (or a JSON or legacy dump) for an inventory:

  - the format (twoskip, skiplist, json, legacy) and the header facts
    (twoskip: version, generation, num_records, repack_size, current_size,
    flags);
  - the Cyrus version that wrote the values (2.4, 2.5, 3.0, 3.2, 3.4 or 3.6; 3.6 stands for 3.6 and later),
    as Cyrus 3.6's own upgrade check and the value shapes tell it;
  - the records by kind (mailbox, by-uniqueid, reverse ACL, markers) and the
    mailboxes by type, flag, server, partition and domain;
  - an uncommitted crash tail (normal on a live file; not damage, unless it
    is more than half of the file: see --allow-crash-tail);
  - damage, each with its offset (or the record key for a bad value).

Read-only and lock-free: safe on the live mailboxes.db of a running Cyrus.
The exit status is 3 when damage was found (the counts then cover the
records before the damage).`,
		Example: `  mboxconv inspect /var/lib/cyrus/mailboxes.db
  mboxconv inspect master-dump.json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}

// inventory is what inspect counts.
type inventory struct {
	records     map[string]int
	mailboxes   int
	byType      map[string]int
	byFlag      map[string]int
	byServer    map[string]int
	byPartition map[string]int
	byDomain    map[string]int
	noUniqueID  int
}

func newInventory() *inventory {
	return &inventory{records: map[string]int{}, byType: map[string]int{}, byFlag: map[string]int{},
		byServer: map[string]int{}, byPartition: map[string]int{}, byDomain: map[string]int{}}
}

var typeNames = map[mboxlist.MBType]string{
	mboxlist.TypeEmail: "email", mboxlist.TypeNetnews: "netnews", mboxlist.TypeSubmission: "submission",
	mboxlist.TypePushSub: "pushsubscription", mboxlist.TypeJMAPNotify: "jmapnotification", mboxlist.TypeSieve: "sieve",
	mboxlist.TypeCollection: "collection", mboxlist.TypeCalendar: "calendar", mboxlist.TypeAddressbook: "addressbook",
}

var flagNames = []struct {
	f    mboxlist.MBType
	name string
}{
	{mboxlist.FlagRemote, "remote"}, {mboxlist.FlagReserve, "reserved"}, {mboxlist.FlagMoving, "moving"},
	{mboxlist.FlagDeleted, "deleted (tombstone)"}, {mboxlist.FlagIntermediate, "intermediate"},
	{mboxlist.FlagLegacyDirs, "legacy dirs"},
}

func (inv *inventory) add(e *mboxlist.Entry, c *mboxlist.NameConfig) {
	inv.mailboxes++
	tn, ok := typeNames[e.Type.Kind()]
	if !ok {
		tn = fmt.Sprintf("type %#x", uint32(e.Type.Kind()))
	}
	inv.byType[tn]++
	for _, f := range flagNames {
		if e.Type.Has(f.f) {
			inv.byFlag[f.name]++
		}
	}
	if mboxlist.IsDeletedName(e.Name, c) {
		inv.byFlag["DELETED.* name (delayed delete)"]++
	}
	server := e.Server
	if server == "" {
		server = "(local)"
	}
	inv.byServer[server]++
	part := e.Partition
	if part == "" {
		part = `""` // an empty partition (location "server!"), visibly
	}
	inv.byPartition[part]++
	dom := mboxlist.ParseIntName(e.Name, c).Domain
	if dom == "" {
		dom = "(default domain)"
	}
	inv.byDomain[dom]++
	if e.UniqueID == "" {
		inv.noUniqueID++
	}
}

func runInspect(ctx context.Context, path string, stdout, stderr io.Writer) (err error) {
	defer func() { err = exitErr(err) }() // mboxfile errors get their exit status
	kind, err := sniff(path)
	if err != nil {
		return err
	}
	out := newOut(stdout)
	fi, err := os.Stat(path)
	if err != nil {
		return inputErr(path, err)
	}
	fmt.Fprintf(out, "file:       %s\n", path)
	fmt.Fprintf(out, "size:       %d bytes\n", fi.Size())
	fmt.Fprintf(out, "format:     %s\n", kind)

	inv := newInventory()
	var damage error
	var tail *cyrusdb.Tail
	hasRecords := false
	if kind.IsDB() {
		db, err := openDB(path, kind)
		if err != nil {
			var ce *cyrusdb.CorruptError
			if !errors.As(err, &ce) {
				return inputErr(path, err)
			}
			fmt.Fprintf(out, "damage:     %v\n", err)
			if ferr := out.finish(); ferr != nil {
				return ferr
			}
			return exitcode.With(exitcode.Input, fmt.Errorf("%s: damaged", path))
		}
		tail = db.Tail()
		writeHeaderFacts(out, db)
		errFirst := errors.New("has a record")
		hasRecords = errors.Is(db.Iterate(func(_, _ []byte) error { return errFirst }), errFirst)
		db.Close()
		src, err := openSource(ctx, path, kind, false, io.Discard)
		if err != nil {
			damage = err
		} else {
			defer src.Close()
			fmt.Fprintf(out, "values:     Cyrus %s%s\n", src.Version, versionNote(src))
			damage = src.Records(ctx, func(_ []byte, rec *mboxlist.Record) error {
				inv.records[rec.Kind.String()]++
				if rec.Kind == mboxlist.KindEntry {
					inv.add(&rec.Entry, src.Names())
				}
				return nil
			})
		}
	} else {
		all, v, err := mboxfile.ReadDump(path, kind, 0)
		if err != nil {
			damage = err
		}
		fmt.Fprintf(out, "values:     Cyrus %s dump\n", v)
		for i := range all {
			inv.add(&all[i], nil)
		}
	}
	if kind.IsDB() && hasRecords && len(inv.records) == 0 {
		// Not one record is a mailbox, by-id, reverse-ACL or marker
		// record: another Cyrus database in the same format (nothing of
		// the inventory is printed: it would describe nothing).
		why := "none of its records is a mailboxes.db record"
		if damage != nil {
			why = "its first record is not a mailboxes.db record: " + strings.TrimPrefix(damage.Error(), path+": ")
		}
		return exitcode.With(exitcode.Input, fmt.Errorf("%s does not look like a mailboxes.db (%s): an annotations.db, a seen or subscription db, or another Cyrus %s database?", path, why, kind))
	}
	if len(inv.records) > 0 {
		fmt.Fprintf(out, "records:    %s\n", countLine(inv.records))
	}
	fmt.Fprintf(out, "mailboxes:  %d\n", inv.mailboxes)
	if inv.mailboxes > 0 {
		fmt.Fprintf(out, "  by type:      %s\n", countLine(inv.byType))
		if len(inv.byFlag) > 0 {
			fmt.Fprintf(out, "  with flag:    %s\n", countLine(inv.byFlag))
		}
		fmt.Fprintf(out, "  by server:    %s\n", countLine(inv.byServer))
		fmt.Fprintf(out, "  by partition: %s\n", countLine(inv.byPartition))
		fmt.Fprintf(out, "  by domain:    %s\n", countLine(inv.byDomain))
		fmt.Fprintf(out, "  no uniqueid:  %d\n", inv.noUniqueID)
	}
	if tail != nil && mboxfile.LargeTail(tail, fi.Size()) {
		fmt.Fprintf(out, "crash tail: %s (most of the file: read with --allow-crash-tail; the committed state leaves out %s)\n", tail, mboxfile.TailShare(tail, fi.Size()))
	} else if tail != nil {
		fmt.Fprintf(out, "crash tail: %s (not damage: a small uncommitted transaction; the committed state is complete)\n", tail)
	} else if kind.IsDB() {
		fmt.Fprintf(out, "crash tail: none\n")
	}
	if damage != nil {
		fmt.Fprintf(out, "damage:     %s\n", strings.TrimPrefix(damage.Error(), path+": "))
		if ferr := out.finish(); ferr != nil {
			return ferr
		}
		return inputErr(path, damage)
	}
	fmt.Fprintf(out, "damage:     none\n")
	return out.finish()
}

func versionNote(s *mboxfile.Source) string {
	switch {
	case s.Version == mboxlist.V36:
		return " (N/I keys)"
	case !s.Decided:
		return " or older (no key decides; Cyrus 3.6's ctl_cyrusdb -r would run its upgrade, with losses)"
	}
	return " (Cyrus 3.6's ctl_cyrusdb -r would run its upgrade, with losses: use mboxconv convert)"
}

// writeHeaderFacts prints the format-specific header.
func writeHeaderFacts(w io.Writer, db cyrusdb.Reader) {
	switch h := db.(type) {
	case interface{ Header() twoskip.Header }:
		hd := h.Header()
		flags := "clean"
		if hd.Dirty() {
			flags = "DIRTY (a write transaction was open)"
		}
		fmt.Fprintf(w, "header:     version %d, generation %d, num_records %d, repack_size %d, current_size %d, flags %d %s\n",
			hd.Version, hd.Generation, hd.NumRecords, hd.RepackSize, hd.CurrentSize, hd.Flags, flags)
	case interface{ Header() skiplist.Header }:
		hd := h.Header()
		fmt.Fprintf(w, "header:     version %d.%d, maxlevel %d, curlevel %d, listsize %d (at the last checkpoint), logstart %d, last_recovery %s\n",
			hd.Version, hd.VersionMinor, hd.MaxLevel, hd.CurLevel, hd.ListSize, hd.LogStart,
			time.Unix(int64(hd.LastRecovery), 0).UTC().Format(time.RFC3339))
	}
}

// countLine prints "a 3, b 2" sorted by count (then name).
func countLine(m map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].v != l[j].v {
			return l[i].v > l[j].v
		}
		return l[i].k < l[j].k
	})
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", e.k, e.v)
	}
	return b.String()
}
