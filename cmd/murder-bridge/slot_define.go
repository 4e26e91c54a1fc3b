package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

func newSlotDefineCmd(o *slotOptions) *cobra.Command {
	define := &cobra.Command{
		Use: "define S --location server[!partition]...", Short: "Create a slot (warns when a location matches no mailbox)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withSlotStore(c, o, func(ctx context.Context, st slotRegistry) error {
				return runSlotDefine(ctx, st, args[0], o.locations, o.state, o.by, o.note, c.OutOrStdout(), c.ErrOrStderr())
			})
		},
	}
	define.Flags().StringArrayVar(&o.locations, "location", nil, "server or server!partition (repeat)")
	define.Flags().StringVar(&o.state, "state", "legacy", "initial state: legacy or mirrored")
	return define
}

func runSlotDefine(ctx context.Context, st slotRegistry, name string, locs []string, state, by, note string, stdout, stderr io.Writer) error {
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
	exists := func(old registry.Slot) error {
		return exitcode.With(exitcode.Refused, fmt.Errorf("slot %s already exists (%s, state %s): change its locations with `murder-bridge slot edit %s --location ...`, or `slot delete %s` first",
			name, locString(old.Locations), old.State, name, name))
	}
	if old, err := st.GetSlot(ctx, name); err == nil {
		return exists(old)
	} else if !errors.Is(err, registry.ErrNotFound) {
		return registryExit(err)
	}
	if err := checkOverlap(ctx, st, name, ls); err != nil {
		return err
	}
	if err := warnUnmatched(ctx, st, name, ls, stderr); err != nil {
		return err
	}
	out, err := st.CreateSlot(ctx, s)
	if errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrExists) {
		if old, gerr := st.GetSlot(ctx, name); gerr == nil {
			return exists(old) // defined meanwhile
		}
	}
	if err != nil {
		return registryExit(err)
	}
	fmt.Fprintf(stdout, "slot %s defined: %s, state %s\n", out.Name, locString(out.Locations), out.State)
	return nil
}
