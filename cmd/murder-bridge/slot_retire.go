package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

func newSlotRetireCmd(o *slotOptions) *cobra.Command {
	return &cobra.Command{
		Use: "retire S", Short: "Record that the old master no longer serves cut-over slot S (no more write-through)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st slotRegistry) error {
				return runSlotRetire(ctx, st, args[0], o.by, o.note, c.OutOrStdout())
			})
		},
	}
}

func runSlotRetire(ctx context.Context, st slotRegistry, name, by, note string, stdout io.Writer) error {
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		return registryExit(err)
	}
	if s.State != registry.SlotCutover {
		return exitcode.With(exitcode.Refused, fmt.Errorf("refusing to retire slot %s: it is %s, not cutover", name, s.State))
	}
	out, err := moveSlot(ctx, st, s, registry.SlotRetired, false, by, note)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "slot %s: cutover -> %s; changes are no longer written through to the old master\n", name, out.State)
	return nil
}
