package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// srcKind is what a SRC argument holds, detected from its first bytes.
type srcKind int

const (
	kindTwoskip srcKind = iota + 1
	kindSkiplist
	kindJSON   // a Cyrus 3.6 `ctl_mboxlist -d` JSON dump
	kindLegacy // legacy dump lines (`ctl_mboxlist -d` of 2.4–3.4, `-u -L` input)
)

func (k srcKind) String() string {
	switch k {
	case kindTwoskip:
		return "twoskip"
	case kindSkiplist:
		return "skiplist"
	case kindJSON:
		return "json"
	case kindLegacy:
		return "legacy"
	}
	return "unknown"
}

// isDB reports whether the source is a database file (not a text dump).
func (k srcKind) isDB() bool { return k == kindTwoskip || k == kindSkiplist }

// detectKind decides the kind of a source from its first bytes: the Cyrus
// magic of a skiplist or twoskip file, `{` (after blanks) for a JSON dump,
// otherwise a legacy dump if the first line has a TAB after the name, which
// every legacy dump line has. A file of blanks only is an empty legacy dump;
// a zero-byte file is an error.
func detectKind(head []byte) (srcKind, error) {
	switch cyrusdb.Detect(head) {
	case cyrusdb.Twoskip:
		return kindTwoskip, nil
	case cyrusdb.Skiplist:
		return kindSkiplist, nil
	}
	if f, n := nearMagic(head); f != cyrusdb.Unknown {
		return 0, cyrusdb.Corruptf(f, 0, "damaged header: the magic number differs from a %s file's in %d of its %d bytes (starts %q)", f, n, magicLen, printable(head))
	}
	if bytes.HasPrefix(head, []byte("\xa1\x02\x8b\x0d")) {
		return 0, cyrusdb.Corruptf(cyrusdb.Unknown, 0, "bad magic: a Cyrus database header of an unknown kind (%q)", printable(head))
	}
	if len(head) == 0 {
		// Cyrus's own empty skiplist and twoskip files have headers
		// (testdata/empty.*.db), and a dump has at least its braces or a
		// line: zero bytes is a file cut to nothing, never "no mailboxes".
		return 0, cyrusdb.Corruptf(cyrusdb.Unknown, 0, "the file is empty (0 bytes): not a mailboxes.db of any format, nor a dump")
	}
	t := bytes.TrimLeft(head, " \t\r\n")
	if len(t) == 0 {
		return kindLegacy, nil
	}
	if t[0] == '{' {
		return kindJSON, nil
	}
	line := head
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if bytes.IndexByte(line, '\t') > 0 {
		if i := bytes.IndexByte(line, 0); i >= 0 {
			// dump lines are text: a NUL byte is never part of one
			return 0, cyrusdb.Corruptf(cyrusdb.Unknown, int64(i), "binary data (a NUL byte): neither a skiplist or twoskip file (bad magic at offset 0), nor a JSON or legacy mailbox dump (starts %q)", printable(head))
		}
		return kindLegacy, nil
	}
	return 0, cyrusdb.Corruptf(cyrusdb.Unknown, 0, "bad magic: neither a skiplist or twoskip file, nor a JSON or legacy mailbox dump (starts %q)", printable(head))
}

// magicLen is the length of the skiplist and twoskip magic numbers.
const magicLen = 20

// nearMagic tells a database file whose magic number is damaged from
// anything else: when at least half of the first 20 bytes equal the
// skiplist or twoskip magic at the same places (text never does: the
// magic starts with 0xA1 and holds NUL bytes), it returns that format and
// how many bytes differ.
func nearMagic(head []byte) (cyrusdb.Format, int) {
	best, bestDiff := cyrusdb.Unknown, magicLen
	for _, m := range []struct {
		f     cyrusdb.Format
		magic []byte
	}{{cyrusdb.Skiplist, cyrusdb.SkiplistMagic}, {cyrusdb.Twoskip, cyrusdb.TwoskipMagic}} {
		diff := 0
		for i := 0; i < magicLen; i++ {
			if i >= len(head) || head[i] != m.magic[i] {
				diff++
			}
		}
		if diff < bestDiff {
			best, bestDiff = m.f, diff
		}
	}
	if bestDiff > magicLen/2 {
		return cyrusdb.Unknown, 0
	}
	return best, bestDiff
}

func printable(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}

// sniffLen is how many leading bytes detectKind looks at.
const sniffLen = 4096

// sniff reads the first bytes of path and detects its kind.
func sniff(path string) (srcKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, exitcode.With(exitcode.Input, err)
	}
	defer f.Close()
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, exitcode.With(exitcode.Input, fmt.Errorf("%s: %w", path, err))
	}
	k, err := detectKind(head[:n])
	if err != nil {
		return 0, exitcode.With(exitcode.Input, fmt.Errorf("%s: %w", path, err))
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
