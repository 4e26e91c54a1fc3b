package main

// slot: the parent command and what its subcommands share. Each subcommand
// is in its own file (slot_define.go, slot_list.go, slot_edit.go,
// slot_delete.go, slot_cutover.go, slot_rollback.go, slot_retire.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

type slotOptions struct {
	registry  string
	bridge    string
	tokenFile string
	by        string
	note      string
	locations []string
	state     string
	to        string
	force     bool
	maxLag    time.Duration
	json      bool
}

func newSlotCommand() *cobra.Command {
	o := &slotOptions{}
	cmd := &cobra.Command{
		Use:   "slot list|define|edit|delete|cutover|rollback|retire ...",
		Short: "Define slots and move them through legacy → mirrored → shadow-clean → cutover → retired",
		Long: `A slot is a named set of locations: "server" (every partition of a backend)
or "server!partition". Its state says who is authoritative for its mailboxes:

  legacy        the old mupdate master; nothing mirrored yet
  mirrored      the old master; the bridge follows it (serve --follow)
  shadow-clean  the old master; the last shadow run for the slot was clean
                (murder-bridge shadow --slot S records it)
  cutover       the bridge: once the operator points the slot's backends'
                mupdate_server at the bridge, it writes every change through
                to the old master (queued durably while the master is down;
                creates refused while anything is queued)
  retired       the bridge; the old master no longer serves the slot

Every transition is stored in the registry with who asked, when and why.
cutover is refused unless the slot is shadow-clean and, with --bridge, the
bridge follows the old master, is synchronised and its follow lag is under
--max-lag; --force overrides (recorded as forced in the history). rollback
returns the slot to an earlier state (default mirrored): the old master is
authoritative again and already holds every change made while cut over
(see docs/runbook.md and scripts/rollback-slot.sh to rebuild its
mailboxes.db from the registry).

A slot defined wrongly is corrected with "slot edit S --location ..." or
removed with "slot delete S" while the old master is still authoritative
(legacy, mirrored, shadow-clean; an edit of a shadow-clean slot moves it
back to mirrored: the clean run did not cover the new locations). Both are
refused for a slot in cutover or retired: the bridge is authoritative for
its mailboxes (roll it back first). define and edit warn when a location
matches no mailbox in the registry.

While a bridge owns a leveldb registry, reach it with --bridge URL and
--token-file (the bridge's --http-token-file: its HTTP API serves slots,
reads and writes alike, only with that bearer token).

` + exitcode.Help,
		Example: `  murder-bridge slot define be1 --location be1.example --state mirrored --bridge http://127.0.0.1:8405 --token-file token
  murder-bridge slot list --bridge http://127.0.0.1:8405 --token-file token
  murder-bridge slot edit be1 --location be1.example.com --bridge http://127.0.0.1:8405 --token-file token
  murder-bridge shadow --old imap://front1 --registry ... --users users.txt --slot be1
  murder-bridge slot cutover be1 --bridge http://127.0.0.1:8405 --token-file token --note "change 4711"
  murder-bridge slot rollback be1 --bridge http://127.0.0.1:8405 --token-file token`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.registry, "registry", "", "registry URL: leveldb:///DIR or etcd://HOST:PORT,.../PREFIX")
	pf.StringVar(&o.bridge, "bridge", "", bridgeFlagHelp)
	pf.StringVar(&o.tokenFile, "token-file", "", tokenFileHelp)
	pf.StringVar(&o.by, "by", defaultBy(), "who asks (recorded in the slot's history)")
	pf.StringVar(&o.note, "note", "", "why (recorded in the slot's history)")
	cmd.AddCommand(newSlotListCmd(o), newSlotDefineCmd(o), newSlotEditCmd(o), newSlotDeleteCmd(o),
		newSlotCutoverCmd(o), newSlotRollbackCmd(o), newSlotRetireCmd(o))
	return cmd
}

func defaultBy() string {
	u := os.Getenv("USER")
	if u == "" {
		u = "operator"
	}
	return u
}

// slotRegistry is what the slot commands (and shadow --slot) use: the
// slots, and the reads that check them. A registry (registry.Store) is one,
// and so is a bridge's HTTP API (httpapi.Client, --bridge URL).
type slotRegistry interface {
	registry.Reader
	registry.SlotStore
}

// slotRegistryCloser is a slotRegistry the command opened and closes.
type slotRegistryCloser interface {
	slotRegistry
	Close() error
}

func withSlotStore(c *cobra.Command, o *slotOptions, fn func(context.Context, slotRegistry) error) error {
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	var st slotRegistryCloser
	switch {
	case o.registry != "" && o.bridge != "":
		return exitcode.With(exitcode.Usage, errors.New("give --registry URL or --bridge URL, not both"))
	case o.tokenFile != "" && o.bridge == "":
		return exitcode.With(exitcode.Usage, errors.New("--token-file goes with --bridge URL"))
	case o.bridge != "":
		if o.tokenFile == "" {
			return exitcode.With(exitcode.Usage, errors.New("--bridge URL needs --token-file FILE: the bridge serves slots only with its bearer token (its --http-token-file)"))
		}
		token, err := readSecret("--token-file", o.tokenFile)
		if err != nil {
			return err
		}
		hc, err := httpapi.NewClient(o.bridge, token)
		if err != nil {
			return exitcode.With(exitcode.Usage, err)
		}
		st = hc
	case o.registry != "":
		s, err := openQueryRegistry(ctx, o.registry)
		if err != nil {
			return err
		}
		st = s
	default:
		return exitcode.With(exitcode.Usage, errors.New(errNeedRegistryOrBridge))
	}
	defer st.Close()
	return fn(ctx, st)
}

// bridgeStatus is the /v1/status of the bridge behind st, or nil (with a
// note on stderr saying what was not checked) when st is a registry.
func bridgeStatus(c *cobra.Command, st slotRegistry, notChecked string) func(context.Context) (httpapi.Readiness, error) {
	if hc, ok := st.(*httpapi.Client); ok {
		return hc.Status
	}
	fmt.Fprintf(c.ErrOrStderr(), "murder-bridge slot: %s not checked (give --bridge URL of the following bridge)\n", notChecked)
	return nil
}

// statusExit classifies a failed /v1/status request: a refused token is an
// authentication failure, anything else the network.
func statusExit(err error) error {
	if errors.Is(err, httpapi.ErrUnauthorized) {
		return exitcode.With(exitcode.Auth, fmt.Errorf("bridge status: %w", err))
	}
	return exitcode.With(exitcode.Network, fmt.Errorf("bridge status: %w", err))
}

func parseSlotLocations(locs []string) ([]registry.Location, error) {
	if len(locs) == 0 {
		return nil, errors.New("at least one --location server[!partition] is required")
	}
	var out []registry.Location
	for _, l := range locs {
		if l == "" || strings.HasPrefix(l, "!") || strings.Count(l, "!") > 1 {
			return nil, fmt.Errorf("bad --location %q: want server or server!partition", l)
		}
		out = append(out, registry.ParseLocation(l))
	}
	return out, nil
}

// checkOverlap refuses locations that another slot (not self) covers: a
// location may belong to one slot only.
func checkOverlap(ctx context.Context, st slotRegistry, self string, ls []registry.Location) error {
	all, err := st.ListSlots(ctx)
	if err != nil {
		return registryExit(err)
	}
	for _, o := range all {
		if o.Name == self {
			continue
		}
		for _, l := range ls {
			for _, ol := range o.Locations {
				if ol.Server == l.Server && (ol.Partition == "" || l.Partition == "" || ol.Partition == l.Partition) {
					return exitcode.With(exitcode.Usage, fmt.Errorf("location %s overlaps slot %q (%s)", l.String(), o.Name, ol.String()))
				}
			}
		}
	}
	return nil
}

// errAllMatched stops the registry scan of unmatchedLocations early.
var errAllMatched = errors.New("every location matched")

// unmatchedLocations returns the locations no live mailbox in the registry
// is at (a typo in a server name is the usual cause). checked is false when
// the store cannot list mailboxes (an older bridge's HTTP API).
func unmatchedLocations(ctx context.Context, st slotRegistry, ls []registry.Location) (unmatched []registry.Location, checked bool, err error) {
	matched := make([]bool, len(ls))
	left := len(ls)
	_, err = st.List(ctx, "", func(e registry.Entry) error {
		locs := e.Locations
		if len(locs) == 0 {
			locs = []registry.Location{{Server: e.Server, Partition: e.Partition}}
		}
		for i, l := range ls {
			if matched[i] {
				continue
			}
			for _, el := range locs {
				if el.Server == l.Server && (l.Partition == "" || l.Partition == el.Partition) {
					matched[i] = true
					left--
					break
				}
			}
		}
		if left == 0 {
			return errAllMatched
		}
		return nil
	})
	switch {
	case errors.Is(err, errAllMatched):
		return nil, true, nil
	case errors.Is(err, registry.ErrInvalid):
		return nil, false, nil
	case err != nil:
		return nil, false, registryExit(err)
	}
	for i, l := range ls {
		if !matched[i] {
			unmatched = append(unmatched, l)
		}
	}
	return unmatched, true, nil
}

// warnUnmatched prints a warning on stderr for each location of slot name
// that matches no mailbox.
func warnUnmatched(ctx context.Context, st slotRegistry, name string, ls []registry.Location, stderr io.Writer) error {
	un, checked, err := unmatchedLocations(ctx, st, ls)
	if err != nil {
		return err
	}
	if !checked {
		fmt.Fprintf(stderr, "murder-bridge slot: warning: could not check that the locations of slot %s match mailboxes (the bridge's HTTP API does not list mailboxes; murder-bridge lookup NAME shows a mailbox's location)\n", name)
		return nil
	}
	for _, l := range un {
		fmt.Fprintf(stderr, "murder-bridge slot: warning: no mailbox in the registry is at %s (slot %s): a typo? correct it with `murder-bridge slot edit %s --location ...`\n", l.String(), name, name)
	}
	return nil
}

func locString(ls []registry.Location) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.String())
	}
	return strings.Join(s, ",")
}

// moveSlot applies a transition (forced: recorded as such even when the
// state machine would refuse it) and stores it (compare-and-set).
func moveSlot(ctx context.Context, st slotRegistry, s registry.Slot, to registry.SlotState, force bool, by, note string) (registry.Slot, error) {
	if err := s.Transition(to, by, note, time.Now()); err != nil {
		if !force {
			return s, exitcode.With(exitcode.Refused, err)
		}
		s.History = append(s.History, registry.SlotTransition{From: s.State, To: to, Time: time.Now().UTC(), By: by,
			Note: strings.TrimSpace("forced " + note)})
		s.State = to
	}
	out, err := st.UpdateSlot(ctx, s)
	if err != nil {
		return s, registryExit(err)
	}
	return out, nil
}

// bridgeAuthoritative says why a slot's definition may not change (edit,
// delete) in its state, or "": in cutover and retired the bridge is
// authoritative for its mailboxes and writes them through by slot.
func bridgeAuthoritative(s registry.Slot) string {
	switch s.State {
	case registry.SlotCutover:
		return fmt.Sprintf("slot %s is cutover: the bridge is authoritative for its mailboxes and writes their changes through to the old master by slot; roll it back first (murder-bridge slot rollback %s)", s.Name, s.Name)
	case registry.SlotRetired:
		return fmt.Sprintf("slot %s is retired: the bridge alone serves its mailboxes", s.Name)
	}
	return ""
}
