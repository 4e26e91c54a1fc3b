package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

func newSlotCutoverCmd(o *slotOptions) *cobra.Command {
	cut := &cobra.Command{
		Use: "cutover S", Short: "Make the bridge authoritative for slot S (safe transitions only unless --force)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st slotRegistry) error {
				status := bridgeStatus(c, st, "follow lag")
				return runSlotCutover(ctx, st, args[0], status, o.maxLag, o.force, o.by, o.note, c.OutOrStdout())
			})
		},
	}
	cut.Flags().BoolVar(&o.force, "force", false, "cut over even if the last shadow run was not clean or the follow lag is high")
	cut.Flags().DurationVar(&o.maxLag, "max-lag", 30*time.Second, "refuse when the bridge's follow lag is above this")
	return cut
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

func runSlotCutover(ctx context.Context, st slotRegistry, name string, status func(context.Context) (httpapi.Readiness, error),
	maxLag time.Duration, force bool, by, note string, stdout io.Writer) error {
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return registryExit(err)
	}
	var rd *httpapi.Readiness
	if status != nil {
		r, err := status(ctx)
		if err != nil {
			return statusExit(err)
		}
		rd = &r
	}
	if why := cutoverRefusal(s, rd, maxLag); why != "" {
		if !force || s.State == registry.SlotCutover || s.State == registry.SlotRetired {
			return exitcode.With(exitcode.Refused, fmt.Errorf("refusing to cut over slot %s: %s (--force overrides)", name, why))
		}
		note = strings.TrimSpace(note + " (" + why + ")")
	}
	out, err := moveSlot(ctx, st, s, registry.SlotCutover, force, by, note)
	if err != nil {
		return err
	}
	// Nothing has changed on the backends yet: say what the operator does
	// next (docs/runbook.md step 5).
	fmt.Fprintf(stdout, "slot %s: %s -> %s; the bridge is now authoritative for %s and writes their changes through to the old master.\n", name, s.State, out.State, locString(out.Locations))
	fmt.Fprintf(stdout, "next: on each backend of %s set mupdate_server to this bridge's MUPDATE address and restart Cyrus (`ctl_mboxlist -m -w` first shows what would change); wait 5 s before the first change. Until then those backends still send MUPDATE to the old master.\n", locString(out.Locations))
	return nil
}
