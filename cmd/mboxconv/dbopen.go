package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// openDB opens a skiplist or twoskip file read-only, without locks. A file
// whose uncommitted tail is most of it is refused (checkTail).
func openDB(path string, kind dbfile.Kind) (cyrusdb.Reader, error) {
	if !kind.IsDB() {
		return nil, fmt.Errorf("%s is not a database file", kind)
	}
	db, err := dbfile.Open(path)
	if err != nil {
		return nil, err
	}
	if err := checkTail(path, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// salvaged reads a damaged file with the format's salvage reader: every
// intact committed record, in key order. It implements the parts of
// cyrusdb.Reader the commands use and remembers what was skipped.
type salvaged struct {
	path    string
	format  cyrusdb.Format
	stderr  io.Writer
	skipped []cyrusdb.Skipped
	doubts  []cyrusdb.Doubt
	ran     bool
}

func openSalvage(path string, kind dbfile.Kind, stderr io.Writer) (*salvaged, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, inputErr(path, err)
	}
	return &salvaged{path: path, format: kind.Format(), stderr: stderr}, nil
}

func (s *salvaged) Format() cyrusdb.Format { return s.format }
func (s *salvaged) Tail() *cyrusdb.Tail    { return nil }
func (s *salvaged) Close() error           { return nil }

func (s *salvaged) Iterate(fn func(key, value []byte) error) error {
	sv, err := dbfile.SalvageAs(s.path, s.format, fn)
	s.skipped, s.doubts, s.ran = sv.Skipped, sv.Doubts, true
	return err
}

func (s *salvaged) Get(key []byte) ([]byte, error) {
	return nil, errors.New("mboxconv: Get on a salvaged file")
}

// report lists the skipped places and the records that may be stale or
// resurrected on stderr; either is exit status 3.
func (s *salvaged) report() error {
	if len(s.skipped) == 0 && len(s.doubts) == 0 {
		if s.ran {
			fmt.Fprintf(s.stderr, "mboxconv: salvage: %s: nothing skipped\n", s.path)
		}
		return nil
	}
	for _, sk := range s.skipped {
		fmt.Fprintf(s.stderr, "mboxconv: salvage: %s: skipped %s\n", s.path, sk)
	}
	for _, d := range s.doubts {
		fmt.Fprintf(s.stderr, "mboxconv: salvage: %s: %s\n", s.path, d)
	}
	return exitcode.With(exitcode.Input, fmt.Errorf("%s: salvage skipped %d damaged place(s) and output %d record(s) that may be stale or resurrected (listed above); every record output is one Cyrus committed", s.path, len(s.skipped), len(s.doubts)))
}
