package dbfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/murderkit/murderkit/cyrusdb"
)

// Kind is what a file handed to the tools holds: a database file in one of
// the two on-disk formats, or a text dump of mailboxes.db. It is the one
// name of "format" for a source file; Format gives the on-disk format of a
// database file. Its String is the name the commands' --to flags use.
type Kind int

const (
	KindTwoskip  Kind = iota + 1
	KindSkiplist      // a skiplist file
	KindJSON          // a Cyrus 3.6 `ctl_mboxlist -d` JSON dump
	KindLegacy        // legacy dump lines (`ctl_mboxlist -d` of 2.4–3.4, `-u -L` input)
)

func (k Kind) String() string {
	switch k {
	case KindTwoskip:
		return "twoskip"
	case KindSkiplist:
		return "skiplist"
	case KindJSON:
		return "json"
	case KindLegacy:
		return "legacy"
	}
	return "unknown"
}

// ParseKind returns the Kind whose String is s (twoskip, skiplist, json,
// legacy: the values of the commands' --to flags); ok is false for any
// other s.
func ParseKind(s string) (k Kind, ok bool) {
	for _, k := range []Kind{KindTwoskip, KindSkiplist, KindJSON, KindLegacy} {
		if s == k.String() {
			return k, true
		}
	}
	return 0, false
}

// Compare is the key order of a database file of kind k: signed bytes for
// skiplist, raw bytes for twoskip (and anything else).
func (k Kind) Compare() func(a, b []byte) int {
	if k == KindSkiplist {
		return cyrusdb.CompareSigned
	}
	return cyrusdb.CompareRaw
}

// IsDB reports whether the file is a database file (not a text dump).
func (k Kind) IsDB() bool { return k == KindTwoskip || k == KindSkiplist }

// Format is the on-disk format of a database file (cyrusdb.Unknown for a
// dump).
func (k Kind) Format() cyrusdb.Format {
	switch k {
	case KindTwoskip:
		return cyrusdb.Twoskip
	case KindSkiplist:
		return cyrusdb.Skiplist
	}
	return cyrusdb.Unknown
}

// DetectKind decides the kind of a file from its first bytes (SniffLen of
// them, or all of a shorter file): the Cyrus magic of a skiplist or twoskip
// file (Detect's test), `{` (after blanks) for a JSON dump, otherwise a
// legacy dump if the first line has a TAB after the name, which every
// legacy dump line has. A file of blanks only is an empty legacy dump. A
// zero-byte file, a database header whose magic is damaged (near a
// format's), and anything else are *cyrusdb.CorruptError.
func DetectKind(head []byte) (Kind, error) {
	switch cyrusdb.Detect(head) {
	case cyrusdb.Twoskip:
		return KindTwoskip, nil
	case cyrusdb.Skiplist:
		return KindSkiplist, nil
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
		return KindLegacy, nil
	}
	if t[0] == '{' {
		return KindJSON, nil
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
		return KindLegacy, nil
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

// SniffLen is how many leading bytes DetectKind looks at.
const SniffLen = 4096

// Sniff reads the first bytes of the file at path and detects its kind.
// A failure to open the file is returned as is; a read failure or a file
// of no kind is named after path.
func Sniff(path string) (Kind, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	k, err := DetectKind(head[:n])
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
