package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
