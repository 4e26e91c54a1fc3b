package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
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

func init() { rootCmd.AddCommand(newSlotCommand()) }

func newSlotCommand() *cobra.Command {
	o := &slotOptions{}
	cmd := &cobra.Command{
		Use:   "slot list|define|cutover|rollback|retire ...",
		Short: "Define slots and move them through legacy → mirrored → shadow-clean → cutover → retired",
		Long: `A slot is a named set of locations: "server" (every partition of a backend)
or "server!partition". Its state says who is authoritative for its mailboxes:

  legacy        the old mupdate master; nothing mirrored yet
  mirrored      the old master; the bridge follows it (serve --follow)
  shadow-clean  the old master; the last shadow run for the slot was clean
                (murder-bridge shadow --slot S records it)
  cutover       the bridge: its backends send MUPDATE to the bridge, which
                writes every change through to the old master (queued
                durably while the master is down; creates refused while
                anything is queued)
  retired       the bridge; the old master no longer serves the slot

Every transition is stored in the registry with who asked, when and why.
cutover is refused unless the slot is shadow-clean and, with --bridge, the
bridge follows the old master, is synchronised and its follow lag is under
--max-lag; --force overrides (recorded as forced in the history). rollback
returns the slot to an earlier state (default mirrored): the old master is
authoritative again and already holds every change made while cut over
(see docs/runbook.md and scripts/rollback-slot.sh to rebuild its
mailboxes.db from the registry).

While a bridge owns a leveldb registry, reach it with --bridge URL (writes
need --token-file, the bridge's --http-token-file).

` + exitcode.Help,
		Example: `  murder-bridge slot define be1 --location be1.example --state mirrored --bridge http://127.0.0.1:8405 --token-file token
  murder-bridge slot list --bridge http://127.0.0.1:8405
  murder-bridge shadow --old imap://front1 --registry ... --users users.txt --slot be1
  murder-bridge slot cutover be1 --bridge http://127.0.0.1:8405 --token-file token --note "change 4711"
  murder-bridge slot rollback be1 --bridge http://127.0.0.1:8405 --token-file token`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.registry, "registry", "", "registry URL: leveldb:///DIR or etcd://HOST:PORT,.../PREFIX")
	pf.StringVar(&o.bridge, "bridge", "", bridgeFlagHelp)
	pf.StringVar(&o.tokenFile, "token-file", "", "with --bridge: file holding the bearer token for writes")
	pf.StringVar(&o.by, "by", defaultBy(), "who asks (recorded in the slot's history)")
	pf.StringVar(&o.note, "note", "", "why (recorded in the slot's history)")

	list := &cobra.Command{
		Use: "list", Short: "List slots with state, locations and last transition", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st registry.Store) error {
				return runSlotList(ctx, st, o.json, c.OutOrStdout())
			})
		},
	}
	list.Flags().BoolVar(&o.json, "json", false, "print the slots (with their history) as JSON")

	define := &cobra.Command{
		Use: "define S --location server[!partition]...", Short: "Create a slot", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st registry.Store) error {
				return runSlotDefine(ctx, st, args[0], o.locations, o.state, o.by, o.note, c.OutOrStdout())
			})
		},
	}
	define.Flags().StringArrayVar(&o.locations, "location", nil, "server or server!partition (repeat)")
	define.Flags().StringVar(&o.state, "state", "legacy", "initial state: legacy or mirrored")

	cut := &cobra.Command{
		Use: "cutover S", Short: "Make the bridge authoritative for slot S (safe transitions only unless --force)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st registry.Store) error {
				var status func(context.Context) (httpapi.Readiness, error)
				if hc, ok := st.(*httpapi.Client); ok {
					status = hc.Status
				} else {
					fmt.Fprintln(c.ErrOrStderr(), "murder-bridge slot: follow lag not checked (give --bridge URL of the following bridge)")
				}
				return runSlotCutover(ctx, st, args[0], status, o.maxLag, o.force, o.by, o.note, c.OutOrStdout())
			})
		},
	}
	cut.Flags().BoolVar(&o.force, "force", false, "cut over even if the last shadow run was not clean or the follow lag is high")
	cut.Flags().DurationVar(&o.maxLag, "max-lag", 30*time.Second, "refuse when the bridge's follow lag is above this")

	rb := &cobra.Command{
		Use: "rollback S", Short: "Return authority for slot S to the old master", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st registry.Store) error {
				var status func(context.Context) (httpapi.Readiness, error)
				if hc, ok := st.(*httpapi.Client); ok {
					status = hc.Status
				} else {
					fmt.Fprintln(c.ErrOrStderr(), "murder-bridge slot: write-through queue not checked (give --bridge URL of the following bridge)")
				}
				return runSlotRollback(ctx, st, args[0], status, o.to, o.force, o.by, o.note, c.OutOrStdout())
			})
		},
	}
	rb.Flags().StringVar(&o.to, "to", string(registry.SlotMirrored), "state to return to: legacy, mirrored or shadow-clean")
	rb.Flags().BoolVar(&o.force, "force", false, "allow any backward state change (even from retired) and a rollback while changes are still queued for the old master")

	retire := &cobra.Command{
		Use: "retire S", Short: "Record that the old master no longer serves cut-over slot S (no more write-through)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st registry.Store) error {
				return runSlotRetire(ctx, st, args[0], o.by, o.note, c.OutOrStdout())
			})
		},
	}
	cmd.AddCommand(list, define, cut, rb, retire)
	return cmd
}

func defaultBy() string {
	u := os.Getenv("USER")
	if u == "" {
		u = "operator"
	}
	return u
}

func withSlotStore(c *cobra.Command, o *slotOptions, fn func(context.Context, registry.Store) error) error {
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	var st registry.Store
	switch {
	case o.registry != "" && o.bridge != "":
		return exitcode.With(exitcode.Usage, errors.New("give --registry URL or --bridge URL, not both"))
	case o.bridge != "":
		token := ""
		if o.tokenFile != "" {
			t, err := readSecret("--token-file", o.tokenFile)
			if err != nil {
				return err
			}
			token = t
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

func runSlotDefine(ctx context.Context, st registry.Store, name string, locs []string, state, by, note string, stdout io.Writer) error {
	ls, err := parseSlotLocations(locs)
	if err != nil {
		return exitcode.With(exitcode.Usage, err)
	}
	s0, err := registry.ParseSlotState(state)
	if err != nil || (s0 != registry.SlotLegacy && s0 != registry.SlotMirrored) {
		return exitcode.With(exitcode.Usage, fmt.Errorf("--state %q: a new slot is legacy or mirrored", state))
	}
	s := registry.Slot{Name: name, Locations: ls, State: s0,
		History: []registry.SlotTransition{{To: s0, Time: time.Now().UTC(), By: by, Note: strings.TrimSpace("defined " + note)}}}
	if err := registry.ValidateSlot(s); err != nil {
		return exitcode.With(exitcode.Usage, err)
	}
	// a location may belong to one slot only
	all, err := st.ListSlots(ctx)
	if err != nil {
		return registryExit(err)
	}
	for _, o := range all {
		for _, l := range ls {
			for _, ol := range o.Locations {
				if ol.Server == l.Server && (ol.Partition == "" || l.Partition == "" || ol.Partition == l.Partition) {
					return exitcode.With(exitcode.Usage, fmt.Errorf("location %s overlaps slot %q (%s)", l.String(), o.Name, ol.String()))
				}
			}
		}
	}
	out, err := st.CreateSlot(ctx, s)
	if err != nil {
		return registryExit(err)
	}
	fmt.Fprintf(stdout, "slot %s defined: %s, state %s\n", out.Name, locString(out.Locations), out.State)
	return nil
}

func locString(ls []registry.Location) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.String())
	}
	return strings.Join(s, ",")
}

func runSlotList(ctx context.Context, st registry.Store, asJSON bool, stdout io.Writer) error {
	slots, err := st.ListSlots(ctx)
	if err != nil {
		return registryExit(err)
	}
	if asJSON {
		if slots == nil {
			slots = []registry.Slot{}
		}
		b, err := json.MarshalIndent(slots, "", "  ")
		if err != nil {
			return exitcode.With(exitcode.Internal, err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tSTATE\tLOCATIONS\tLAST CHANGE")
	for _, s := range slots {
		last := ""
		if n := len(s.History); n > 0 {
			h := s.History[n-1]
			last = fmt.Sprintf("%s by %s", h.Time.Format(time.RFC3339), h.By)
			if h.Note != "" {
				last += ": " + h.Note
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.State, locString(s.Locations), last)
	}
	return tw.Flush()
}

// moveSlot applies a transition (forced: recorded as such even when the
// state machine would refuse it) and stores it (compare-and-set).
func moveSlot(ctx context.Context, st registry.Store, s registry.Slot, to registry.SlotState, force bool, by, note string) (registry.Slot, error) {
	if err := s.Transition(to, by, note, time.Now()); err != nil {
		if !force {
			return s, exitcode.With(exitcode.Usage, err)
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

// cutoverRefusal says why cutting s over is not safe, or "".
func cutoverRefusal(s registry.Slot, rd *httpapi.Readiness, maxLag time.Duration) string {
	switch s.State {
	case registry.SlotCutover, registry.SlotRetired:
		return fmt.Sprintf("slot %s is already %s", s.Name, s.State)
	case registry.SlotShadowClean:
	default:
		return fmt.Sprintf("the last shadow run of slot %s was not clean (state %s; run murder-bridge shadow ... --slot %s until it is)", s.Name, s.State, s.Name)
	}
	if rd == nil {
		return ""
	}
	f := rd.Follow
	switch {
	case f == nil:
		return "the bridge does not follow the old master (serve --follow): it could not write through"
	case !f.Connected || !f.Synced:
		return fmt.Sprintf("the bridge is not synchronised with the old master %s (connected %v, synced %v, last error %q)", f.Master, f.Connected, f.Synced, f.LastError)
	case f.Lag < 0 || f.Lag > maxLag:
		return fmt.Sprintf("follow lag is high: %v (limit --max-lag %v)", f.Lag, maxLag)
	}
	return ""
}

func runSlotCutover(ctx context.Context, st registry.Store, name string, status func(context.Context) (httpapi.Readiness, error),
	maxLag time.Duration, force bool, by, note string, stdout io.Writer) error {
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return registryExit(err)
	}
	var rd *httpapi.Readiness
	if status != nil {
		r, err := status(ctx)
		if err != nil {
			return exitcode.With(exitcode.Network, fmt.Errorf("bridge status: %w", err))
		}
		rd = &r
	}
	if why := cutoverRefusal(s, rd, maxLag); why != "" {
		if !force || s.State == registry.SlotCutover || s.State == registry.SlotRetired {
			return exitcode.With(exitcode.Usage, fmt.Errorf("refusing to cut over slot %s: %s (--force overrides)", name, why))
		}
		note = strings.TrimSpace(note + " (" + why + ")")
	}
	out, err := moveSlot(ctx, st, s, registry.SlotCutover, force, by, note)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "slot %s: %s -> %s; the backends of %s now send MUPDATE to the bridge\n", name, s.State, out.State, locString(out.Locations))
	return nil
}

func runSlotRollback(ctx context.Context, st registry.Store, name string, status func(context.Context) (httpapi.Readiness, error),
	to string, force bool, by, note string, stdout io.Writer) error {
	target, err := registry.ParseSlotState(to)
	if err != nil {
		return exitcode.With(exitcode.Usage, err)
	}
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return registryExit(err)
	}
	if !force && (s.State == registry.SlotRetired || !slotBefore(target, s.State) || !registry.CanTransition(s.State, target)) {
		return exitcode.With(exitcode.Usage, fmt.Errorf("refusing to roll slot %s back from %s to %s (a rollback goes to an earlier state, never from retired; --force overrides)", name, s.State, target))
	}
	if status != nil && s.State == registry.SlotCutover {
		rd, err := status(ctx)
		if err != nil {
			return exitcode.With(exitcode.Network, fmt.Errorf("bridge status: %w", err))
		}
		// Changes still queued have not reached the old master: handing
		// authority back now would lose them.
		if wt := rd.WriteThrough; wt != nil && wt.Queued > 0 && !force {
			return exitcode.With(exitcode.Usage, fmt.Errorf("refusing to roll slot %s back: %d change(s) are still queued for the old master (last error %q); wait until they drain (murder_bridge_write_through_queued = 0) or --force", name, wt.Queued, wt.LastError))
		}
	}
	out, err := moveSlot(ctx, st, s, target, force, by, note)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "slot %s: %s -> %s; the old mupdate master is authoritative again for %s\n", name, s.State, out.State, locString(out.Locations))
	return nil
}

// recordShadowRun records a shadow run's result on a slot: clean moves a
// mirrored slot to shadow-clean; differences move a shadow-clean slot back
// to mirrored (cutover then refuses). Other states are left alone.
func recordShadowRun(ctx context.Context, st registry.Store, name string, clean bool, summary string) (registry.Slot, error) {
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return s, registryExit(err)
	}
	var to registry.SlotState
	switch {
	case clean && s.State == registry.SlotMirrored:
		to = registry.SlotShadowClean
	case !clean && s.State == registry.SlotShadowClean:
		to = registry.SlotMirrored
	default:
		return s, nil
	}
	return moveSlot(ctx, st, s, to, false, "shadow", summary)
}

func runSlotRetire(ctx context.Context, st registry.Store, name, by, note string, stdout io.Writer) error {
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return registryExit(err)
	}
	if s.State != registry.SlotCutover {
		return exitcode.With(exitcode.Usage, fmt.Errorf("refusing to retire slot %s: it is %s, not cutover", name, s.State))
	}
	out, err := moveSlot(ctx, st, s, registry.SlotRetired, false, by, note)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "slot %s: cutover -> %s; changes are no longer written through to the old master\n", name, out.State)
	return nil
}

// slotBefore reports whether state a comes before b in the order legacy →
// mirrored → shadow-clean → cutover → retired.
func slotBefore(a, b registry.SlotState) bool {
	order := []registry.SlotState{registry.SlotLegacy, registry.SlotMirrored, registry.SlotShadowClean, registry.SlotCutover, registry.SlotRetired}
	ia, ib := slices.Index(order, a), slices.Index(order, b)
	return ia >= 0 && ib >= 0 && ia < ib
}
