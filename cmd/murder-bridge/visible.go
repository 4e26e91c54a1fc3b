package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
	_ "github.com/murderkit/murderkit/registry/backends" // every registry URL scheme
	"github.com/murderkit/murderkit/registry/leveldb"
)

type visibleOptions struct {
	queryFlags
	groups []string
}

func newVisibleCommand() *cobra.Command {
	var o visibleOptions
	cmd := &cobra.Command{
		Use:   "visible USER [--group G]... --registry URL | --bridge URL --token-file FILE",
		Short: "Print the mailboxes USER may see, one internal name a line",
		Long: `Print what Cyrus's IMAP LIST "" "*" would show USER, as internal names
(modified UTF-7, spelled as ctl_mboxlist -d spells them), one a line, in
LIST order: the user's own hierarchy, then other users' mailboxes, then
shared ones, each in Cyrus order.

USER is a Cyrus userid, local[@domain]; only that domain's mailboxes are
considered. Visible are the user's own hierarchy (user.LOCAL and below) and
every mailbox where the user, "anyone" or one of the --group identifiers has
the l right, unless one of them has l as a negative right (-id). Never shown:
tombstones, reserved entries, DELETED.* and non-email mailboxes (calendars,
addressbooks, collections, JMAP), which Cyrus hides from non-admins.

The answer comes from the registry's reverse-ACL index: its cost grows with
the answer, not with the registry.

` + exitcode.Help,
		Example: `  murder-bridge visible fred --registry leveldb:///var/lib/murder-bridge/registry
  murder-bridge visible jane@example.com --group staff --group sales \
      --registry etcd://10.0.0.1:2379,10.0.0.2:2379/murder
  murder-bridge visible fred --bridge http://127.0.0.1:8405 --token-file /etc/murder-bridge/http-token`,
		Args:    cobra.ExactArgs(1),
		PreRunE: o.check,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, func(ctx context.Context, s registry.Reader) error {
				return runVisible(ctx, s, args[0], o.groups, cmd.OutOrStdout())
			})
		},
	}
	o.add(cmd)
	cmd.Flags().StringArrayVar(&o.groups, "group", nil, "a group USER belongs to (the identifier group:G); repeat for several")
	return cmd
}

// openQueryRegistry opens the registry for the read-only commands (visible,
// lookup), mapping failures to exit statuses.
func openQueryRegistry(ctx context.Context, url string) (registry.Store, error) {
	// A query must not create an empty leveldb registry at a mistyped path.
	s, err := registry.OpenExisting(ctx, url)
	if err != nil {
		if errors.Is(err, leveldb.ErrLocked) {
			err = fmt.Errorf("%w (reach it with --bridge URL, or stop the bridge)", err)
		}
		if errors.Is(err, registry.ErrInvalid) {
			return nil, exitcode.With(exitcode.Usage, err)
		}
		return nil, exitcode.With(exitcode.Registry, err)
	}
	return s, nil
}

// registryExit maps a registry error to an exit status.
func registryExit(err error) error {
	if errors.Is(err, httpapi.ErrUnauthorized) {
		return exitcode.With(exitcode.Auth, err)
	}
	if errors.Is(err, registry.ErrInvalid) {
		return exitcode.With(exitcode.Usage, err)
	}
	return exitcode.With(exitcode.Registry, err)
}

// runVisible prints the names user may see, one a line.
func runVisible(ctx context.Context, s registry.Reader, user string, groups []string, stdout io.Writer) error {
	names, err := s.Visible(ctx, user, groups)
	if err != nil {
		return registryExit(err)
	}
	w := bufio.NewWriter(stdout)
	for _, n := range names {
		fmt.Fprintln(w, n)
	}
	if err := w.Flush(); err != nil {
		return exitcode.With(exitcode.Output, err)
	}
	return nil
}
