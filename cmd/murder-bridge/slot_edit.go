package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

func newSlotEditCmd(o *slotOptions) *cobra.Command {
	edit := &cobra.Command{
		Use:   "edit S --location server[!partition]...",
		Short: "Replace slot S's locations (legacy, mirrored or shadow-clean only; shadow-clean goes back to mirrored)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st slotRegistry) error {
				return runSlotEdit(ctx, st, args[0], o.locations, o.by, o.note, c.OutOrStdout(), c.ErrOrStderr())
			})
		},
	}
	edit.Flags().StringArrayVar(&o.locations, "location", nil, "server or server!partition (repeat; replaces every location)")
	return edit
}

// runSlotEdit replaces a slot's locations while the old master is still
// authoritative for it. A shadow-clean slot goes back to mirrored: its
// clean run did not cover the new locations.
func runSlotEdit(ctx context.Context, st slotRegistry, name string, locs []string, by, note string, stdout, stderr io.Writer) error {
	ls, err := parseSlotLocations(locs)
	if err != nil {
		return exitcode.With(exitcode.Usage, err)
	}
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return registryExit(err)
	}
	if why := bridgeAuthoritative(s); why != "" {
		return exitcode.With(exitcode.Refused, fmt.Errorf("refusing to edit slot %s: %s", name, why))
	}
	if err := checkOverlap(ctx, st, name, ls); err != nil {
		return err
	}
	if err := warnUnmatched(ctx, st, name, ls, stderr); err != nil {
		return err
	}
	from := s.State
	to := s.State
	if to == registry.SlotShadowClean {
		to = registry.SlotMirrored
	}
	old := locString(s.Locations)
	s.Locations = ls
	s.State = to
	s.History = append(s.History, registry.SlotTransition{From: from, To: to, Time: time.Now().UTC(), By: by,
		Note: strings.TrimSpace(fmt.Sprintf("locations %s -> %s %s", old, locString(ls), note))})
	out, err := st.UpdateSlot(ctx, s)
	if err != nil {
		return registryExit(err)
	}
	fmt.Fprintf(stdout, "slot %s: locations %s -> %s, state %s\n", name, old, locString(out.Locations), out.State)
	if from != to {
		fmt.Fprintf(stdout, "slot %s is %s again: run murder-bridge shadow ... --slot %s before its cutover\n", name, to, name)
	}
	return nil
}
