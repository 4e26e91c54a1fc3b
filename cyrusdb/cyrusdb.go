package cyrusdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Format is an on-disk key-value format of Cyrus IMAP.
type Format int

// The formats cyrusdb knows.
const (
	Unknown Format = iota
	Skiplist
	Twoskip
)

// String returns "skiplist", "twoskip" or "unknown" (the backend names
// cyr_dbtool takes).
func (f Format) String() string {
	switch f {
	case Skiplist:
		return "skiplist"
	case Twoskip:
		return "twoskip"
	}
	return "unknown"
}

// Magic prefixes as Cyrus writes them (part of the on-disk formats).
var (
	// SkiplistMagic is the 20-byte magic at offset 0 of a skiplist file.
	SkiplistMagic = []byte("\xa1\x02\x8b\x0dskiplist file\x00\x00\x00")
	// TwoskipMagic is the 20-byte magic at offset 0 of a twoskip file.
	TwoskipMagic = []byte("\xa1\x02\x8b\x0dtwoskip file\x00\x00\x00\x00")
)

// DetectLen is the number of leading bytes Detect needs.
const DetectLen = 16

// Detect reports the format of a file from its first bytes, as Cyrus's
// cyrusdb_detect does (it looks at the first 16 bytes). Fewer than 16 bytes
// give Unknown.
func Detect(head []byte) Format {
	if len(head) < DetectLen {
		return Unknown
	}
	switch {
	case bytes.Equal(head[:DetectLen], SkiplistMagic[:DetectLen]):
		return Skiplist
	case bytes.Equal(head[:DetectLen], TwoskipMagic[:DetectLen]):
		return Twoskip
	}
	return Unknown
}

// ErrNotFound is returned by Reader.Get for a key that has no committed
// record.
var ErrNotFound = errors.New("cyrusdb: key not found")

// ErrChanged is the sentinel of a ChangedError: the file was replaced,
// truncated or committed to while it was read. Retrying the read (opening
// the path again) is the remedy.
var ErrChanged = errors.New("cyrusdb: file changed while reading")

// CorruptError reports damage in a file: the format, the absolute file
// offset of the damaged place and what was wrong there.
type CorruptError struct {
	Format Format
	Offset int64
	What   string
}

// Error reads like "twoskip: offset 1234 (0x4D2): head crc32 mismatch".
func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: offset %d (0x%X): %s", prefix(e.Format), e.Offset, e.Offset, e.What)
}

func prefix(f Format) string {
	if f == Unknown {
		return "cyrusdb"
	}
	return f.String()
}

// Corruptf builds a *CorruptError.
func Corruptf(f Format, off int64, format string, args ...any) *CorruptError {
	return &CorruptError{Format: f, Offset: off, What: fmt.Sprintf(format, args...)}
}

// ChangedError reports that the file under a reader changed while it was
// read (a checkpoint renamed a new file over it, recovery truncated it, a
// commit moved twoskip's current_size). It matches ErrChanged with
// errors.Is. The data already delivered may be inconsistent; read again.
type ChangedError struct {
	Format Format
	Path   string
	What   string
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s: %s changed while reading (%s); read it again", prefix(e.Format), e.Path, e.What)
}

// Is makes errors.Is(err, ErrChanged) true.
func (e *ChangedError) Is(target error) bool { return target == ErrChanged }

// Tail describes an uncommitted crash tail: bytes at the end of a file that
// belong to a write transaction that never committed. It is not damage;
// Cyrus discards it on its next recovery, and readers do not see it.
type Tail struct {
	Offset, Length int64
	Note           string
}

func (t *Tail) String() string {
	return fmt.Sprintf("uncommitted tail at offset %d (0x%X), %d bytes: %s", t.Offset, t.Offset, t.Length, t.Note)
}

// OffsetIterator is implemented by readers that can tell where each record
// lies in the file (skiplist and twoskip): IterateAt is Iterate with the
// record's file offset, for errors about what a record decodes to.
type OffsetIterator interface {
	IterateAt(fn func(off int64, key, value []byte) error) error
}

// Reader reads the committed records of one file.
type Reader interface {
	Format() Format
	// Iterate calls fn for every committed record in key order. key and
	// value are valid only during the call. An error from fn stops the
	// iteration and is returned as is.
	Iterate(fn func(key, value []byte) error) error
	// Get returns a copy of the committed value of key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Tail describes the uncommitted crash tail, or is nil for a clean file.
	Tail() *Tail
	Close() error
}

// Writer writes a new file from records given in order.
type Writer interface {
	// Add appends a record. Keys must be non-empty and strictly increasing
	// in the format's order, else Add returns an error.
	Add(key, value []byte) error
	// Close finishes the file (temp file, fsync, rename over the target).
	Close() error
}

// Aborter is implemented by writers that can give up without touching the
// target path (the temp file is removed).
type Aborter interface {
	Abort() error
}

// WriteOptions configure a writer. The zero value is valid.
type WriteOptions struct {
	// Compare overrides the format's comparator (e.g. CompareMbox for a
	// Cyrus ≤ 3.4 with improved_mboxlist_sort: yes).
	Compare func(a, b []byte) int
	// Generation is the twoskip header generation; 0 means 1, or old+1
	// when the target path holds a twoskip file already.
	Generation uint64
	// Seed seeds the level generator; 0 means a fixed default, so output
	// is reproducible.
	Seed uint64
	// Mode is the permission of the new file; 0 means 0600.
	Mode uint32
	// Now is the skiplist last_recovery time (unix seconds); 0 means now.
	Now int64
}

// Skipped is one damaged place that Salvage could not use.
type Skipped struct {
	Offset int64
	Why    string
}

func (s Skipped) String() string {
	return fmt.Sprintf("offset %d (0x%X): %s", s.Offset, s.Offset, s.Why)
}

// Doubt is a record Salvage did return but cannot prove current: a write
// the file no longer holds (cut off by a truncation, or without its
// COMMIT) may have deleted it (it is then resurrected) or replaced its
// value (it is then stale). The value returned is still exactly one Cyrus
// had committed.
type Doubt struct {
	Offset int64 // where the returned record is
	Key    []byte
	Why    string
}

func (d Doubt) String() string {
	return fmt.Sprintf("offset %d (0x%X): key %q possibly stale or resurrected: %s", d.Offset, d.Offset, clipKey(d.Key), d.Why)
}

func clipKey(k []byte) []byte {
	if len(k) > 80 {
		return append(k[:77:77], "..."...)
	}
	return k
}

// Salvaged is what a salvage reader reports besides the records it
// returned: the damaged places it left out, and the returned records it
// cannot prove current.
type Salvaged struct {
	Skipped []Skipped
	Doubts  []Doubt
}

// WriteShow prints every committed record the way
// "cyr_dbtool FILE <format> show" does: key, TAB, value, LF, all bytes
// raw (NUL, TAB, CR, LF and bytes ≥ 0x80 are not escaped).
func WriteShow(w io.Writer, r Reader) error {
	bw, ok := w.(interface {
		io.Writer
		io.ByteWriter
	})
	if !ok {
		return WriteShow(newBuf(w), r)
	}
	err := r.Iterate(func(k, v []byte) error {
		if _, err := bw.Write(k); err != nil {
			return err
		}
		bw.WriteByte('\t')
		if _, err := bw.Write(v); err != nil {
			return err
		}
		return bw.WriteByte('\n')
	})
	if f, ok := bw.(*flusher); ok {
		if ferr := f.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}
