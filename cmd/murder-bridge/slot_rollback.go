package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

func newSlotRollbackCmd(o *slotOptions) *cobra.Command {
	rb := &cobra.Command{
		Use: "rollback S", Short: "Return authority for slot S to the old master", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st slotRegistry) error {
				status := bridgeStatus(c, st, "write-through queue")
				return runSlotRollback(ctx, st, args[0], status, o.to, o.force, o.by, o.note, c.OutOrStdout())
			})
		},
	}
	rb.Flags().StringVar(&o.to, "to", string(registry.SlotMirrored), "state to return to: legacy, mirrored or shadow-clean")
	rb.Flags().BoolVar(&o.force, "force", false, "allow any backward state change (even from retired) and a rollback while changes are still queued for the old master")
	return rb
}

func runSlotRollback(ctx context.Context, st slotRegistry, name string, status func(context.Context) (httpapi.Readiness, error),
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
		return exitcode.With(exitcode.Refused, fmt.Errorf("refusing to roll slot %s back from %s to %s (a rollback goes to an earlier state, never from retired; --force overrides)", name, s.State, target))
	}
	if status != nil && s.State == registry.SlotCutover {
		rd, err := status(ctx)
		if err != nil {
			return statusExit(err)
		}
		// Changes still queued have not reached the old master: handing
		// authority back now would lose them.
		if wt := rd.WriteThrough; wt != nil && wt.Queued > 0 && !force {
			return exitcode.With(exitcode.Refused, fmt.Errorf("refusing to roll slot %s back: %d change(s) are still queued for the old master (last error %q); wait until they drain (murder_bridge_write_through_queued = 0) or --force", name, wt.Queued, wt.LastError))
		}
	}
	out, err := moveSlot(ctx, st, s, target, force, by, note)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "slot %s: %s -> %s; the old mupdate master is authoritative again for %s\n", name, s.State, out.State, locString(out.Locations))
	if s.State == registry.SlotCutover || s.State == registry.SlotRetired {
		fmt.Fprintf(stdout, "next: on each backend of %s set mupdate_server back to the old master and restart Cyrus\n", locString(out.Locations))
	}
	return nil
}

// slotBefore reports whether state a comes before b in the order legacy →
// mirrored → shadow-clean → cutover → retired.
func slotBefore(a, b registry.SlotState) bool {
	order := []registry.SlotState{registry.SlotLegacy, registry.SlotMirrored, registry.SlotShadowClean, registry.SlotCutover, registry.SlotRetired}
	ia, ib := slices.Index(order, a), slices.Index(order, b)
	return ia >= 0 && ib >= 0 && ia < ib
}
