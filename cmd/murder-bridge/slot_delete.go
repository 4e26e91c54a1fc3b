package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
)

func newSlotDeleteCmd(o *slotOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete S",
		Short: "Delete slot S (legacy, mirrored or shadow-clean only: the old master is still authoritative)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st slotRegistry) error {
				return runSlotDelete(ctx, st, args[0], c.OutOrStdout())
			})
		},
	}
}

// runSlotDelete deletes a slot the old master is still authoritative for
// (compare-and-set on the revision read: a slot moved meanwhile is kept).
// Its history goes with it; the mailboxes are not touched.
func runSlotDelete(ctx context.Context, st slotRegistry, name string, stdout io.Writer) error {
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return registryExit(err)
	}
	if why := bridgeAuthoritative(s); why != "" {
		return exitcode.With(exitcode.Refused, fmt.Errorf("refusing to delete slot %s: %s", name, why))
	}
	if err := st.DeleteSlot(ctx, name, s.Revision); err != nil {
		return registryExit(err)
	}
	fmt.Fprintf(stdout, "slot %s deleted (was %s, %s); its mailboxes are unchanged\n", name, s.State, locString(s.Locations))
	return nil
}
