// Command mboxconv inspects, dumps, converts, verifies, imports and exports
// Cyrus mailboxes.db files and the murderkit registry. One file per command;
// each command's logic is in a runX function that tests call directly.
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

// newRootCmd builds the mboxconv command tree: the root, its persistent
// flags and one command per file (each file holds its command, its options
// and its runX).
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mboxconv",
		Short:         "Read, convert and verify Cyrus mailboxes.db files and the murderkit registry",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Every command's --help ends with the EXIT STATUS section; bad flags
	// are usage errors (exit status 2).
	root.SetHelpTemplate(root.HelpTemplate() + "\n" + exitcode.Help + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitcode.With(exitcode.Usage, err) })
	addCrashTailFlag(root.PersistentFlags())
	root.AddCommand(
		newInspectCommand(),
		newDumpCommand(),
		newConvertCommand(),
		newVerifyCommand(),
		newCheckBackendCommand(),
		newImportCommand(),
		newExportCommand(),
	)
	return root
}

func main() {
	// MBOXCONV_CPUPROFILE=FILE writes a CPU profile of the whole run (for
	// the figures in docs/benchmarks.md).
	if p := os.Getenv("MBOXCONV_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mboxconv:", err)
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
