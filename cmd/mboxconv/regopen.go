package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// Hints added to the error of a leveldb registry another process holds
// (leveldb.ErrLocked): each names only what the command offers.
const (
	hintLockedRead   = "reach it with --bridge URL, or stop the bridge"
	hintLockedImport = "an import needs the registry to itself: stop murder-bridge first"
	hintLockedSource = "stop the murder-bridge that holds it to read it"
)

// openRegistry opens a registry URL for a command. A read-only command
// passes mustExist: a registry that does not exist is refused (exit status
// 5) instead of created empty at a mistyped path. hint is added when
// another process holds a leveldb registry.
func openRegistry(ctx context.Context, url string, mustExist bool, hint string) (registry.Store, error) {
	st, err := registry.OpenWith(ctx, url, registry.OpenOptions{MustExist: mustExist})
	if err != nil {
		return nil, registryOpenErr(err, hint)
	}
	return st, nil
}

// registryOpenErr makes an error of opening a registry exit status 5; a
// lock held by another process gets hint.
func registryOpenErr(err error, hint string) error {
	if errors.Is(err, leveldb.ErrLocked) && hint != "" {
		err = fmt.Errorf("%w (%s)", err, hint)
	}
	return exitcode.With(exitcode.Registry, err)
}

// newRegistryDir returns the top-most directory that opening the leveldb
// registry url would create ("" when the path exists, or url is not a
// leveldb URL): what a failed import removes again.
func newRegistryDir(url string) string {
	path, _, err := leveldb.ParseURL(url)
	if err != nil {
		return ""
	}
	top := ""
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			return top
		}
		top = p
		if filepath.Dir(p) == p {
			return top
		}
	}
}

// removeIfNothingStored removes dir, which this process created for the
// leveldb registry url, when the registry holds nothing (revision 0, no
// slots): a failed or dry-run import into a new path leaves nothing behind.
// A registry that holds anything (an interrupted import to resume) stays.
// It reports whether it removed dir.
func removeIfNothingStored(ctx context.Context, url, dir string) (bool, error) {
	st, err := registry.OpenWith(ctx, url, registry.OpenOptions{MustExist: true})
	switch {
	case errors.Is(err, registry.ErrNotFound):
		// no database there (a bulk build that stopped before it made one)
	case err != nil:
		return false, err
	default:
		rev, rerr := st.Revision(ctx)
		slots, serr := st.ListSlots(ctx)
		st.Close()
		if rerr != nil || serr != nil {
			return false, errors.Join(rerr, serr)
		}
		if rev != 0 || len(slots) != 0 {
			return false, nil
		}
	}
	return true, os.RemoveAll(dir)
}

// bridgeFlags are --bridge and --token-file of the commands that read the
// registry (verify, export): a running bridge's HTTP API instead of the
// registry itself, the way to read a leveldb registry a bridge owns.
type bridgeFlags struct {
	bridge    string
	tokenFile string
}

func (b *bridgeFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&b.bridge, "bridge", "", "read the registry through a running bridge's HTTP API (http://127.0.0.1:8405): the way while it owns a leveldb registry")
	f.StringVar(&b.tokenFile, "token-file", "", "with --bridge: file holding the bridge's bearer token (its --http-token-file), which every registry read through it needs")
}

// readStore is what the commands that only read the registry (verify,
// export) use of it: the reads, the slots (--slot) and Close. A registry
// (registry.Store) is one, and so is a bridge's HTTP API (httpapi.Client),
// which offers nothing else.
type readStore interface {
	registry.Reader
	registry.SlotStore
	Close() error
}

// open returns a client of the bridge's HTTP API.
func (b *bridgeFlags) open() (readStore, error) {
	token := ""
	if b.tokenFile != "" {
		raw, err := os.ReadFile(b.tokenFile)
		if err != nil {
			return nil, exitcode.With(exitcode.Input, fmt.Errorf("--token-file: %w", err))
		}
		token = strings.TrimSpace(string(raw))
		if token == "" {
			return nil, exitcode.With(exitcode.Input, fmt.Errorf("--token-file %s is empty", b.tokenFile))
		}
	}
	c, err := httpapi.NewClient(b.bridge, token)
	if err != nil {
		return nil, exitcode.With(exitcode.Usage, err)
	}
	return c, nil
}

// check refuses --token-file without --bridge, and --bridge without
// --token-file (the bridge serves registry reads only with its token).
func (b *bridgeFlags) check() error {
	if b.tokenFile != "" && b.bridge == "" {
		return exitcode.With(exitcode.Usage, errors.New("--token-file goes with --bridge URL"))
	}
	if b.bridge != "" && b.tokenFile == "" {
		return exitcode.With(exitcode.Usage, errors.New("--bridge URL needs --token-file FILE: the bridge serves registry reads only with its bearer token (its --http-token-file)"))
	}
	return nil
}
