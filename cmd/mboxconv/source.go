package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// srcKind and its constants name dbfile.Kind (what a SRC argument holds)
// where the import's entry source still spells it so.
type srcKind = dbfile.Kind

const (
	kindTwoskip  = dbfile.KindTwoskip
	kindSkiplist = dbfile.KindSkiplist
	kindJSON     = dbfile.KindJSON
	kindLegacy   = dbfile.KindLegacy
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

// inputErr classifies an error met while reading a source: damage and
// read failures are exit status 3.
func inputErr(path string, err error) error {
	if err == nil {
		return nil
	}
	var ee *exitcode.Error
	if errors.As(err, &ee) {
		return err
	}
	return exitcode.With(exitcode.Input, fmt.Errorf("%s: %w", path, err))
}

// outputErr classifies an error met while writing a destination.
func outputErr(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitcode.Error
	if errors.As(err, &ee) {
		return err
	}
	return exitcode.With(exitcode.Output, err)
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
