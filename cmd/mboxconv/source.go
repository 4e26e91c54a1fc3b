package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxfile"
	"github.com/murderkit/murderkit/mboxlist"
)

// sniff detects the kind of the file at path (dbfile.Sniff); a file that
// cannot be read or is of no kind is exit status 3.
func sniff(path string) (dbfile.Kind, error) {
	k, err := dbfile.Sniff(path)
	if err != nil {
		return 0, exitcode.With(exitcode.Input, err)
	}
	return k, nil
}

// allowCrashTail is --allow-crash-tail (every command that reads a
// database file): see mboxfile.OpenDB and LargeTail.
var allowCrashTail bool

// addCrashTailFlag adds --allow-crash-tail to fs (the root's persistent
// flags).
func addCrashTailFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&allowCrashTail, "allow-crash-tail", false,
		"read a skiplist or twoskip file whose uncommitted tail is more than half of it (its committed state only)")
}

// openSource opens a SRC of the detected kind (mboxfile.Open) with the
// command's --allow-crash-tail; a crash tail is noted on stderr.
func openSource(ctx context.Context, path string, kind dbfile.Kind, salvage bool, stderr io.Writer) (*mboxfile.Source, error) {
	s, err := mboxfile.Open(ctx, path, kind, mboxfile.OpenOptions{Salvage: salvage, AllowCrashTail: allowCrashTail,
		OnTail: func(t *cyrusdb.Tail) { noteTail(stderr, path, t) }})
	return s, exitErr(err)
}

// openDB opens a database file (mboxfile.OpenDB) with the command's
// --allow-crash-tail.
func openDB(path string, kind dbfile.Kind) (cyrusdb.Reader, error) {
	return mboxfile.OpenDB(path, kind, allowCrashTail)
}

// exitCodes are the exit statuses of mboxfile's error classes.
var exitCodes = map[mboxfile.Class]int{mboxfile.Input: exitcode.Input, mboxfile.Output: exitcode.Output, mboxfile.Loss: exitcode.Lossy, mboxfile.Internal: exitcode.Internal}

// exitErr gives an error of package mboxfile (a source damaged, a
// destination not written, a loss) its exit status, unless it has one.
func exitErr(err error) error {
	var ee *exitcode.Error
	if err == nil || errors.As(err, &ee) {
		return err
	}
	if c := mboxfile.ClassOf(err); c != 0 {
		return exitcode.With(exitCodes[c], err)
	}
	return err
}

// classified reports whether err has an exit status (its own, or its
// mboxfile class).
func classified(err error) bool {
	var ee *exitcode.Error
	return errors.As(err, &ee) || mboxfile.ClassOf(err) != 0
}

// inputErr classifies an error met while reading a source: damage and
// read failures are exit status 3.
func inputErr(path string, err error) error {
	if err == nil {
		return nil
	}
	if classified(err) {
		return exitErr(err)
	}
	return exitcode.With(exitcode.Input, fmt.Errorf("%s: %w", path, err))
}

// outputErr classifies an error met while writing a destination.
func outputErr(err error) error {
	if err == nil {
		return nil
	}
	if classified(err) {
		return exitErr(err)
	}
	return exitcode.With(exitcode.Output, err)
}

// parseVersion parses a --cyrus-version value.
func parseVersion(s string) (mboxlist.Version, error) {
	v, err := mboxlist.ParseVersion(s)
	if err != nil {
		return 0, exitcode.With(exitcode.Usage, fmt.Errorf("--cyrus-version: %w (want 2.4, 2.5, 3.0, 3.2, 3.4, 3.6, 3.10 or 3.12)", err))
	}
	return v, nil
}

// stdoutWriter buffers machine output; flush errors (a closed pipe, a full
// disk) are output errors.
type stdoutWriter struct {
	*bufio.Writer
}

func newOut(w io.Writer) *stdoutWriter { return &stdoutWriter{bufio.NewWriterSize(w, 1<<20)} }

func (w *stdoutWriter) finish() error { return outputErr(w.Flush()) }

// exactArgs is cobra.ExactArgs with exit status 2 (usage).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return exitcode.With(exitcode.Usage, cobra.ExactArgs(n)(cmd, args))
	}
}
