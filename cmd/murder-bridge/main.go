// Command murder-bridge stands in for a Cyrus murder's mupdate master: it
// serves MUPDATE from the registry, follows an old master during the parallel
// run, answers operators' questions (lookup, visible) and drives shadow
// comparison and slot cutover. One file per command; each command's logic is
// in a runX function that tests call directly.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
)

// newRootCmd builds the murder-bridge command tree: the root and one
// command per file (each file holds its command, its options and its runX).
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "murder-bridge",
		Short:         "Stand in for the Cyrus mupdate master, on a registry with no single point of failure",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetHelpTemplate(root.HelpTemplate() + "\n" + exitcode.Help + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitcode.With(exitcode.Usage, err) })
	root.AddCommand(
		newServeCmd(),
		newLookupCommand(),
		newVisibleCommand(),
		newShadowCommand(),
		newSlotCommand(),
	)
	return root
}

func main() {
	// MURDERKIT_CPUPROFILE=FILE writes a CPU profile of the whole run (for
	// the figures in docs/benchmarks.md; not MURDER_BRIDGE_*, which are
	// settings).
	if p := os.Getenv("MURDERKIT_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
		}
	}
	// SIGINT/SIGTERM end the one root context every command runs under:
	// serve stops gracefully (exit 0); any other command that fails
	// because of it exits exitcode.Interrupted. No command installs its
	// own handler for them (serve adds SIGHUP under cyrmaster only).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "murder-bridge:", err)
	}
	os.Exit(exitcode.Final(interrupted, authErr(err)))
}

// authErr makes a refused token (from a bridge's HTTP API) exit
// exitcode.Auth wherever it surfaces, whatever code it was given on the way.
func authErr(err error) error {
	if errors.Is(err, registry.ErrUnauthorized) {
		return exitcode.With(exitcode.Auth, err)
	}
	return err
}
