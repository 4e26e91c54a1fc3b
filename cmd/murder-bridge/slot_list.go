package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

func newSlotListCmd(o *slotOptions) *cobra.Command {
	list := &cobra.Command{
		Use: "list", Short: "List slots with state, locations and last transition", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st slotRegistry) error {
				return runSlotList(ctx, st, o.json, c.OutOrStdout())
			})
		},
	}
	list.Flags().BoolVar(&o.json, "json", false, "print the slots (with their history) as JSON")
	return list
}

func runSlotList(ctx context.Context, st slotRegistry, asJSON bool, stdout io.Writer) error {
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
