package mboxfile

import (
	"errors"
	"fmt"
	"os"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
)

// OpenDB opens a skiplist or twoskip file read-only, without locks. A file
// whose uncommitted tail is most of it is refused (checkTail) unless
// allowCrashTail.
func OpenDB(path string, kind dbfile.Kind, allowCrashTail bool) (cyrusdb.Reader, error) {
	if !kind.IsDB() {
		return nil, fmt.Errorf("%s is not a database file", kind)
	}
	db, err := dbfile.Open(path)
	if err != nil {
		return nil, err
	}
	if err := checkTail(path, db, allowCrashTail); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Salvaged reads a damaged file with the format's salvage reader: every
// intact committed record, in key order. It implements the parts of
// cyrusdb.Reader that reading a source uses (Iterate) and remembers what
// was skipped.
type Salvaged struct {
	path   string
	format cyrusdb.Format
	// Skipped and Doubts are what the last Iterate skipped and the records
	// it may have given stale or resurrected; Ran says it ran.
	Skipped []cyrusdb.Skipped
	Doubts  []cyrusdb.Doubt
	Ran     bool
}

// OpenSalvaged prepares the salvage reading of the database file at path.
func OpenSalvaged(path string, kind dbfile.Kind) (*Salvaged, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, inputErr(path, err)
	}
	return &Salvaged{path: path, format: kind.Format()}, nil
}

func (s *Salvaged) Format() cyrusdb.Format { return s.format }
func (s *Salvaged) Tail() *cyrusdb.Tail    { return nil }
func (s *Salvaged) Close() error           { return nil }

func (s *Salvaged) Iterate(fn func(key, value []byte) error) error {
	sv, err := dbfile.SalvageAs(s.path, s.format, fn)
	s.Skipped, s.Doubts, s.Ran = sv.Skipped, sv.Doubts, true
	return err
}

func (s *Salvaged) Get(key []byte) ([]byte, error) {
	return nil, errors.New("mboxfile: Get on a salvaged file")
}

// An uncommitted crash tail is the write transaction a crash (or a live
// writer) left without COMMIT: not an error, Cyrus discards it on its next
// recovery. That holds for a tail that is small next to the file. A tail
// that is most of the file is not an interrupted transaction on a live
// database but a file whose commits are missing or damaged (a damaged
// COMMIT, a file cut short inside one big transaction): its committed
// state leaves out most of what the file holds. Such a file is refused
// unless the caller allows it (mboxconv --allow-crash-tail). The threshold is half the file.

// LargeTail reports whether t is more than half of a file of size bytes.
func LargeTail(t *cyrusdb.Tail, size int64) bool { return t != nil && size > 0 && t.Length*2 > size }

// TailShare says how much of the file the tail is.
func TailShare(t *cyrusdb.Tail, size int64) string {
	return fmt.Sprintf("%d of the file's %d bytes (%.0f%%) left out: %s", t.Length, size, 100*float64(t.Length)/float64(size), t.Note)
}

// checkTail refuses a database file whose uncommitted tail is more than
// half of it, unless allow. The error is damage (a *cyrusdb.CorruptError).
func checkTail(path string, db cyrusdb.Reader, allow bool) error {
	t := db.Tail()
	if t == nil {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !LargeTail(t, st.Size()) || allow {
		return nil
	}
	return cyrusdb.Corruptf(db.Format(), t.Offset,
		"uncommitted tail is most of the file, not a crash tail: %s; the committed state leaves it out (--allow-crash-tail reads the committed state anyway)",
		TailShare(t, st.Size()))
}
