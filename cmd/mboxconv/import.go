package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	_ "github.com/murderkit/murderkit/registry/leveldb" // leveldb:// URLs
)

type importOptions struct {
	registry string
	server   string
	batch    int
}

func init() { rootCmd.AddCommand(newImportCommand()) }

func newImportCommand() *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import SRC --registry URL [--server NAME]",
		Short: "Import the mailboxes of a mailboxes.db or dump into the registry",
		Long: `Store every mailbox of SRC (any format and Cyrus version) in the registry
at URL (leveldb:///path or etcd://host:port,.../prefix).

Absent entries are created, different ones replaced, equal ones left alone,
so running the same import again is a no-op that exits 0. Tombstones of
imported names are removed.

A backend's own mailboxes.db has no server in its entries: --server NAME
records them at NAME!partition. Without --server, entries without a server
keep none.

A leveldb registry has one owner process: stop murder-bridge first (or
import through its HTTP API when that lands).`,
		Example: `  mboxconv import /var/lib/cyrus/mailboxes.db --registry leveldb:///var/lib/murder-bridge/registry
  mboxconv import backend1-mailboxes.db --server backend1 --registry etcd://10.0.0.1:2379,10.0.0.2:2379/murder`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.registry == "" {
				return exitcode.With(exitcode.Usage, fmt.Errorf("--registry URL is required"))
			}
			if o.batch < 1 {
				return exitcode.With(exitcode.Usage, fmt.Errorf("--batch must be at least 1"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd.Context(), o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.registry, "registry", "", "registry URL: leveldb:///path or etcd://hosts/prefix")
	f.StringVar(&o.server, "server", "", "server name for entries that have none (a backend's own mailboxes.db)")
	f.IntVar(&o.batch, "batch", 1000, "entries per registry transaction")
	return cmd
}

func runImport(ctx context.Context, o importOptions, path string, stdout, stderr io.Writer) error {
	kind, err := sniff(path)
	if err != nil {
		return err
	}
	src, err := openSource(ctx, path, kind, false, stderr)
	if err != nil {
		return err
	}
	defer src.Close()
	store, err := registry.Open(ctx, o.registry)
	if err != nil {
		return exitcode.With(exitcode.Registry, err)
	}
	defer store.Close()

	var total registry.ImportStats
	n := 0
	batch := make([]registry.Entry, 0, o.batch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		st, err := store.Import(ctx, batch)
		if err != nil {
			return exitcode.With(exitcode.Registry, err)
		}
		total.Created += st.Created
		total.Updated += st.Updated
		total.Unchanged += st.Unchanged
		batch = batch[:0]
		return nil
	}
	err = src.entries(ctx, func(e *mboxlist.Entry) error {
		re := registry.Entry{Entry: *e}
		if re.Server == "" && o.server != "" {
			re.Server = o.server
		}
		re.Normalize()
		batch = append(batch, re)
		n++
		if len(batch) == o.batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "imported %d mailboxes from %s: %d created, %d updated, %d unchanged\n",
		n, path, total.Created, total.Updated, total.Unchanged)
	return outputErr(err)
}
