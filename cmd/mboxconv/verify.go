package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

type verifyOptions struct {
	json         bool
	compareMtime bool
	bridgeFlags  // --bridge URL: SRC2 is a running bridge's registry
}

func newVerifyCommand() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify [--json] [--mtime] SRC1 SRC2 | SRC1 --bridge URL --token-file F   (each SRC a file of any format or a registry URL)",
		Short: "Compare the mailboxes of two sources; exit 0 when equal, 1 with a diff",
		Long: `Compare the mailboxes held by two sources, entry by entry, whatever their
formats (twoskip, skiplist, JSON dump, legacy dump, or a registry URL:
leveldb:///path, etcd://hosts/prefix) and Cyrus versions: both are read into
the version-neutral 3.6 model and compared by name. A registry entry is
compared by its preferred primary location.

Every field Cyrus stores counts (type and flags, partition, server, ACL in
order, uniqueid, uidvalidity, modseqs, specialuse, name history) except
mtime, which Cyrus rewrites on every write (--mtime compares it too).
Absent is not empty: a partition stored as "" (a Cyrus 3.6+ master holds
every RENAME target and DELETED.* name that way, MUPDATE location "host!")
differs from no partition, and likewise for the server, the uniqueid and a
missing ACL against an empty one. Where one side is a dump that cannot tell
two cases apart, they compare equal and a note on stderr says so: a JSON
dump prints a missing and an empty ACL alike and carries no name history
(ctl_mboxlist -d reads N records); a legacy dump line likewise. Reverse-ACL
records are derived data and are not compared; the name history of a 3.6
file comes from its by-uniqueid (I) records.

Each difference names its field: "NAME: FIELD: VALUE1 ≠ VALUE2", with
"absent" for a field that is not there. --json prints {"equal": bool,
"only_in_1": [...], "only_in_2": [...], "changed": [{"name": ..., "diff":
..., "fields": [{"field": ..., "a": ..., "b": ...}]}]} instead.

--bridge URL compares SRC1 with the registry of a running bridge, read
through its HTTP API (GET /v1/mailboxes): the way to check a leveldb
registry while the bridge owns it. --token-file gives the bridge's bearer
token, which every registry read through it needs.

A registry URL must name an existing registry: a leveldb path without one
is an error (exit status 5), never an empty registry.`,
		Example: `  mboxconv verify /var/lib/cyrus/mailboxes.db converted.db
  mboxconv verify --json master.json backend1-mailboxes.db
  mboxconv verify /var/lib/cyrus/mailboxes.db leveldb:///var/lib/murder-bridge/registry
  mboxconv verify /var/lib/cyrus/mailboxes.db --bridge http://127.0.0.1:8405 --token-file /etc/murder-bridge/token`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.bridge != "" {
				return exitcode.With(exitcode.Usage, cobra.ExactArgs(1)(cmd, args))
			}
			return exactArgs(2)(cmd, args)
		},
		PreRunE: func(*cobra.Command, []string) error { return o.bridgeFlags.check() },
		RunE: func(cmd *cobra.Command, args []string) error {
			p2 := o.bridge
			if p2 == "" {
				p2 = args[1]
			}
			return runVerify(cmd.Context(), o, args[0], p2, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&o.compareMtime, "mtime", false, "also compare mtime")
	o.bridgeFlags.add(cmd)
	return cmd
}

// loadSource is loadEntries, with the bridge of --bridge for its URL.
func loadSource(ctx context.Context, o verifyOptions, path string, stderr io.Writer) (map[string]mboxlist.Entry, []string, bool, error) {
	if o.bridge != "" && path == o.bridge {
		st, err := o.bridgeFlags.open()
		if err != nil {
			return nil, nil, false, err
		}
		defer st.Close()
		m, order, err := listStore(ctx, st)
		return m, order, false, err
	}
	return loadEntries(ctx, path, stderr)
}

// loadEntries reads every mailbox of a source into a map by name, keeping
// the order of names. dump reports a JSON or legacy dump, which cannot
// carry a name history nor tell a missing ACL from an empty one.
func loadEntries(ctx context.Context, path string, stderr io.Writer) (m map[string]mboxlist.Entry, order []string, dump bool, err error) {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return nil, nil, false, exitcode.With(exitcode.Usage, fmt.Errorf("%s: a bridge's HTTP API is read with --bridge URL (and --token-file FILE)", path))
	}
	if isRegistryURL(path) {
		m, order, err = loadRegistry(ctx, path)
		return m, order, false, err
	}
	kind, err := sniff(path)
	if err != nil {
		return nil, nil, false, err
	}
	m, order, err = loadFile(ctx, path, kind, stderr)
	return m, order, kind == dbfile.KindJSON || kind == dbfile.KindLegacy, err
}

func loadFile(ctx context.Context, path string, kind dbfile.Kind, stderr io.Writer) (map[string]mboxlist.Entry, []string, error) {
	src, err := openSource(ctx, path, kind, false, stderr)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	m := map[string]mboxlist.Entry{}
	var order []string
	err = src.Entries36(ctx, func(e *mboxlist.Entry) error {
		if _, dup := m[e.Name]; !dup {
			order = append(order, e.Name)
		}
		m[e.Name] = *e
		return nil
	})
	return m, order, err
}

// loadRegistry reads every live entry of a registry, from one snapshot.
// An entry with several locations is compared by its preferred primary (a
// file holds one); registry-to-registry comparisons see the others in the
// "locations" line of the diff only through that field.
func loadRegistry(ctx context.Context, url string) (map[string]mboxlist.Entry, []string, error) {
	st, err := openRegistry(ctx, url, true, hintLockedRead)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	return listStore(ctx, st)
}

// listStore reads every entry of an open registry (or a bridge's), from
// one snapshot.
func listStore(ctx context.Context, st registry.Reader) (map[string]mboxlist.Entry, []string, error) {
	m := map[string]mboxlist.Entry{}
	var order []string
	_, err := st.List(ctx, "", func(e registry.Entry) error {
		order = append(order, e.Name)
		m[e.Name] = e.Entry
		return nil
	})
	if err != nil {
		return nil, nil, exitcode.With(exitcode.Registry, err)
	}
	return m, order, nil
}

// sameContent compares two entries by their canonical bytes (every field,
// absent and empty apart): the fast path of verify, which runs
// mboxlist.Diff only on entries that differ.
func sameContent(a, b *mboxlist.Entry) bool {
	ra, rb := registry.Entry{Entry: *a}, registry.Entry{Entry: *b}
	return bytes.Equal(convert.Canonical(&ra, false), convert.Canonical(&rb, false))
}

type verifyResult struct {
	Equal   bool          `json:"equal"`
	Only1   []string      `json:"only_in_1"`
	Only2   []string      `json:"only_in_2"`
	Changed []verifyDelta `json:"changed"`
}

type verifyDelta struct {
	Name   string               `json:"name"`
	Diff   string               `json:"diff"`
	Fields []mboxlist.FieldDiff `json:"fields"`
}

func runVerify(ctx context.Context, o verifyOptions, p1, p2 string, stdout, stderr io.Writer) (err error) {
	defer func() { err = exitErr(err) }() // mboxfile errors get their exit status
	m1, order1, dump1, err := loadSource(ctx, o, p1, stderr)
	if err != nil {
		return err
	}
	m2, order2, dump2, err := loadSource(ctx, o, p2, stderr)
	if err != nil {
		return err
	}
	do := mboxlist.DiffOptions{IgnoreMtime: !o.compareMtime, NoACLPresence: dump1 || dump2, NoHistory: dump1 || dump2}
	if do.NoHistory {
		fmt.Fprintln(stderr, "mboxconv: note: a dump carries no name history and prints a missing ACL as an empty one: those are not compared")
	}
	res := verifyResult{Only1: []string{}, Only2: []string{}, Changed: []verifyDelta{}}
	for _, n := range order1 {
		e2, ok := m2[n]
		if !ok {
			res.Only1 = append(res.Only1, n)
			continue
		}
		e1 := m1[n]
		if !o.compareMtime {
			e1.Mtime, e2.Mtime = 0, 0
			e1.History = zeroMtimes(e1.History)
			e2.History = zeroMtimes(e2.History)
		}
		if e1.JMAPID == e2.JMAPID && sameContent(&e1, &e2) {
			continue // the fast path: equal canonical bytes
		}
		if fd := mboxlist.Diff(&e1, &e2, do); len(fd) > 0 {
			var d strings.Builder
			for _, f := range fd {
				fmt.Fprintf(&d, "  %s\n", f)
			}
			res.Changed = append(res.Changed, verifyDelta{Name: n, Diff: d.String(), Fields: fd})
		}
	}
	for _, n := range order2 {
		if _, ok := m1[n]; !ok {
			res.Only2 = append(res.Only2, n)
		}
	}
	res.Equal = len(res.Only1) == 0 && len(res.Only2) == 0 && len(res.Changed) == 0
	out := newOut(stdout)
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return outputErr(err)
		}
	} else {
		for _, n := range res.Only1 {
			fmt.Fprintf(out, "only in %s: %s\n", p1, n)
		}
		for _, n := range res.Only2 {
			fmt.Fprintf(out, "only in %s: %s\n", p2, n)
		}
		for _, c := range res.Changed {
			fmt.Fprintf(out, "%s differs (%s ≠ %s):\n%s", c.Name, p1, p2, c.Diff)
		}
		if res.Equal {
			fmt.Fprintf(out, "equal: %d mailboxes\n", len(m1))
		} else {
			fmt.Fprintf(out, "different: %d only in %s, %d only in %s, %d changed (of %d and %d mailboxes)\n",
				len(res.Only1), p1, len(res.Only2), p2, len(res.Changed), len(m1), len(m2))
		}
	}
	if err := out.finish(); err != nil {
		return err
	}
	if !res.Equal {
		return exitcode.With(exitcode.Difference, fmt.Errorf("%s and %s differ", p1, p2))
	}
	return nil
}

// zeroMtimes returns h with every mtime 0, as a copy (the entries' history
// slices are shared with the loaded maps).
func zeroMtimes(h []mboxlist.HistoryItem) []mboxlist.HistoryItem {
	if len(h) == 0 {
		return h
	}
	out := append([]mboxlist.HistoryItem(nil), h...)
	for i := range out {
		out[i].Mtime = 0
	}
	return out
}
