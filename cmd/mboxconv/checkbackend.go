package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// check-backend: the pre-cutover check of docs/runbook.md (step 4, "Stale
// entries"): the registry's (the old master's) entries at one backend
// against that backend's own mailboxes.db. What counts as "held" follows
// what a Cyrus 3.6 backend's `ctl_mboxlist -m` treats as its own
// (docs/runbook.md): an entry of that name that is neither a tombstone
// (d) nor an intermediate (i).

type checkBackendOptions struct {
	server      string
	partition   string
	json        bool
	bridgeFlags // --bridge URL: the registry of a running bridge
}

func newCheckBackendCommand() *cobra.Command {
	var o checkBackendOptions
	cmd := &cobra.Command{
		Use:   "check-backend BACKEND-DB (REGISTRY | --bridge URL --token-file F) --server NAME",
		Short: "Name registry entries at a backend that the backend does not hold (and the reverse); exit 0 when none",
		Long: `Compare, by name, the mailboxes the registry (which mirrors the old master)
places on backend NAME with the mailboxes that backend holds in its own
mailboxes.db (BACKEND-DB: the file itself, read-only and safe while Cyrus
runs, a copy of it, or the backend's ctl_mboxlist -d output; any format).

  master-only NAME   the registry (and so the old master) places NAME on
                     this backend, but the backend has no mailbox of that
                     name (none, or only a tombstone or intermediate).
                     Cyrus 3.6 leaves such entries behind after a DELETE on
                     a backend with delete_mode: immediate and after a
                     LOCALDELETE. A frontend still lists them in a plain
                     LIST, but not in a LIST with RETURN (SPECIAL-USE),
                     which it passes to the backends; SELECT fails.
  backend-only NAME  the backend holds NAME but the registry does not place
                     it on this backend (absent, or at another server).

Only the entry's preferred primary location counts (the one MUPDATE
carries); --partition P narrows both sides to one partition. Tombstones,
intermediates and reserved entries of the backend are not its mailboxes;
deleted entries of the registry are not compared.

To clean, on the backend (Cyrus's own tool; see docs/runbook.md):
ctl_mboxlist -m -w prints what a push would change ("Remove from MUPDATE:
NAME" for each master-only entry), ctl_mboxlist -m does it. Its MUPDATE
server is the old master while the slot is mirrored or shadow-clean, the
bridge (which writes through) once it is cut over.

--bridge URL reads the registry of a running bridge through its HTTP API
(--token-file: its bearer token).`,
		Example: `  mboxconv check-backend /var/lib/cyrus/mailboxes.db --server be1.example.com --bridge http://127.0.0.1:8405 --token-file /etc/murder-bridge/token
  mboxconv check-backend be1-dump.json leveldb:///var/lib/murder-bridge/registry --server be1.example.com --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.bridge != "" {
				return exitcode.With(exitcode.Usage, cobra.ExactArgs(1)(cmd, args))
			}
			return exactArgs(2)(cmd, args)
		},
		PreRunE: func(*cobra.Command, []string) error {
			if o.server == "" {
				return exitcode.With(exitcode.Usage, errors.New("--server NAME is required: the backend's servername, as the registry's locations spell it"))
			}
			return o.bridgeFlags.check()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := o.bridge
			if reg == "" {
				reg = args[1]
			}
			return runCheckBackend(cmd.Context(), o, args[0], reg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "the backend's servername (its location in the registry)")
	f.StringVar(&o.partition, "partition", "", "compare only this partition (default: every partition of the server)")
	f.BoolVar(&o.json, "json", false, "print the result as JSON")
	o.bridgeFlags.add(cmd)
	return cmd
}

// staleEntry is one entry found on one side only.
type staleEntry struct {
	Name string `json:"name"`
	// Location is where the registry places it ("server!partition"), or ""
	// when the registry does not hold it.
	Location string `json:"location,omitempty"`
	// Backend is the backend entry's type (3.6 letters) when it has one.
	Backend string `json:"backend_type,omitempty"`
}

type checkBackendResult struct {
	Server      string       `json:"server"`
	Partition   string       `json:"partition,omitempty"`
	Clean       bool         `json:"clean"`
	Compared    int          `json:"registry_entries"`
	Held        int          `json:"backend_mailboxes"`
	MasterOnly  []staleEntry `json:"master_only"`
	BackendOnly []staleEntry `json:"backend_only"`
}

// heldByBackend reports whether a backend's own entry is a mailbox it
// holds: not a tombstone, not an intermediate, not a reservation.
func heldByBackend(e *mboxlist.Entry) bool {
	return !e.Type.Has(mboxlist.FlagDeleted) && !e.Type.Has(mboxlist.FlagIntermediate) && !e.Type.Has(mboxlist.FlagReserve)
}

func runCheckBackend(ctx context.Context, o checkBackendOptions, backendDB, reg string, stdout, stderr io.Writer) error {
	be, _, _, err := loadEntries(ctx, backendDB, stderr)
	if err != nil {
		return err
	}
	var st readStore
	if o.bridge != "" {
		st, err = o.bridgeFlags.open()
	} else {
		st, err = openRegistry(ctx, reg, true, hintLockedRead)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	live := map[string]registry.Entry{}
	_, err = st.List(ctx, "", func(e registry.Entry) error {
		if e.Type.Has(mboxlist.FlagDeleted) {
			return nil
		}
		live[e.Name] = e
		return nil
	})
	if err != nil {
		return exitcode.With(exitcode.Registry, err)
	}
	res := compareBackendWith(o, be, live)
	out := newOut(stdout)
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return outputErr(err)
		}
	} else {
		for _, s := range res.MasterOnly {
			what := "no mailbox of that name"
			if s.Backend != "" {
				what = "only an entry of type " + s.Backend
			}
			fmt.Fprintf(out, "master-only %s: the registry (the old master) places it at %s; the backend has %s\n", s.Name, s.Location, what)
		}
		for _, s := range res.BackendOnly {
			where := "the registry does not hold it"
			if s.Location != "" {
				where = "the registry places it at " + s.Location
			}
			fmt.Fprintf(out, "backend-only %s: the backend holds it (type %s); %s\n", s.Name, s.Backend, where)
		}
		if res.Clean {
			fmt.Fprintf(out, "clean: %d registry entries at %s, each held by the backend\n", res.Compared, placeOf(res))
		} else {
			fmt.Fprintf(out, "stale: %d master-only, %d backend-only at %s (of %d registry entries, %d backend mailboxes)\n",
				len(res.MasterOnly), len(res.BackendOnly), placeOf(res), res.Compared, res.Held)
		}
	}
	if err := out.finish(); err != nil {
		return err
	}
	if !res.Clean {
		fmt.Fprintf(stderr, "mboxconv: the registry and backend %s disagree: on that backend, `ctl_mboxlist -m -w` shows what a push would change (\"Remove from MUPDATE: NAME\" for a master-only entry) and `ctl_mboxlist -m` cleans it (docs/runbook.md, step 4)\n", o.server)
		return exitcode.With(exitcode.Difference, fmt.Errorf("backend %s: %d master-only, %d backend-only entries", o.server, len(res.MasterOnly), len(res.BackendOnly)))
	}
	return nil
}

func placeOf(r checkBackendResult) string {
	if r.Partition != "" {
		return r.Server + "!" + r.Partition
	}
	return r.Server
}

// compareBackendWith compares the backend's entries be with the
// registry's live entries reg (by name).
func compareBackendWith(o checkBackendOptions, be map[string]mboxlist.Entry, reg map[string]registry.Entry) checkBackendResult {
	res := checkBackendResult{Server: o.server, Partition: o.partition, MasterOnly: []staleEntry{}, BackendOnly: []staleEntry{}}
	inPart := func(p string) bool { return o.partition == "" || p == o.partition }
	for _, n := range sortedKeys(reg) {
		e := reg[n]
		if e.Server != o.server || !inPart(e.Partition) {
			continue
		}
		res.Compared++
		b, ok := be[n]
		if ok && heldByBackend(&b) {
			continue
		}
		s := staleEntry{Name: n, Location: e.Server + "!" + e.Partition}
		if ok {
			s.Backend = b.Type.String()
		}
		res.MasterOnly = append(res.MasterOnly, s)
	}
	for _, n := range sortedKeys(be) {
		b := be[n]
		if !heldByBackend(&b) || !inPart(b.Partition) {
			continue
		}
		res.Held++
		e, ok := reg[n]
		if ok && e.Server == o.server {
			continue
		}
		s := staleEntry{Name: n, Backend: b.Type.String()}
		if ok {
			s.Location = e.Server + "!" + e.Partition
		}
		res.BackendOnly = append(res.BackendOnly, s)
	}
	res.Clean = len(res.MasterOnly) == 0 && len(res.BackendOnly) == 0
	return res
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
