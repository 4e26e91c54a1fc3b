package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
)

// source is an opened SRC: a database file, or a text dump.
type source struct {
	path    string
	kind    srcKind
	stderr  io.Writer
	db      cyrusdb.Reader   // database files
	version mboxlist.Version // of the values (database files); V36 for JSON dumps
	decided bool             // a key decided 3.6-or-older the way Cyrus's upgrade check does
	names   *mboxlist.NameConfig
	salv    *salvaged // --salvage: what was skipped
	// streamJSON: a JSON dump's entries are passed on in the dump's
	// order as they are read, not held and sorted by dbname (a bulk
	// import, which refuses entries out of order and then reads the
	// source again without streamJSON).
	streamJSON bool
}

var errStop = errors.New("stop")

// openSource opens path (of the detected kind). For a database file it
// finds the Cyrus version of the values with a first pass over the records
// (it stops as soon as the keys say 3.6). A crash tail is noted on stderr.
func openSource(ctx context.Context, path string, kind srcKind, salvage bool, stderr io.Writer) (*source, error) {
	s := &source{path: path, kind: kind, stderr: stderr}
	switch kind {
	case kindJSON:
		s.version = mboxlist.V36
		return s, nil
	case kindLegacy:
		v, err := legacyDumpVersion(path)
		if err != nil {
			return nil, inputErr(path, err)
		}
		s.version = v
		return s, nil
	}
	if salvage {
		sv, err := openSalvage(path, kind, stderr)
		if err != nil {
			return nil, err
		}
		s.db, s.salv = sv, sv
	} else {
		db, err := openDB(path, kind)
		if err != nil {
			return nil, inputErr(path, err)
		}
		s.db = db
		noteTail(stderr, path, db.Tail())
	}
	var d mboxlist.Detector
	err := s.db.Iterate(func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		d.Add(k, v)
		if d.Decided() && d.Version() == mboxlist.V36 {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		s.db.Close()
		return nil, inputErr(path, err)
	}
	s.version, s.decided = d.Version(), d.Decided()
	return s, nil
}

// Close releases the file.
func (s *source) Close() error {
	if s.db != nil {
		return s.db.Close()
	}
	return nil
}

// Finish reports what --salvage skipped (exit status 3 if anything was).
func (s *source) Finish() error {
	if s.salv != nil {
		return s.salv.report()
	}
	return nil
}

// iterateAt walks the committed records of a database file with their
// file offsets (-1 when the reader cannot tell them).
func (s *source) iterateAt(fn func(off int64, k, v []byte) error) error {
	if oi, ok := s.db.(cyrusdb.OffsetIterator); ok {
		return oi.IterateAt(fn)
	}
	return s.db.Iterate(func(k, v []byte) error { return fn(-1, k, v) })
}

// checkRecord validates what a record decoded to (mboxlist.Entry.Check):
// skiplist has no checksums and a twoskip checksum covers only what was
// written, so a damaged or hostile value is caught only by what it means.
// The error names the record's key and file offset; it is damage (exit
// status 3).
func (s *source) checkRecord(key []byte, off int64, rec *mboxlist.Record) error {
	if rec.Kind != mboxlist.KindEntry && rec.Kind != mboxlist.KindByID {
		return nil
	}
	err := rec.Entry.Check(s.names)
	if err == nil {
		return nil
	}
	k := string(key)
	if len(k) > 80 {
		k = k[:80] + "..."
	}
	if off < 0 {
		return cyrusdb.Corruptf(s.db.Format(), 0, "record %q: a value Cyrus cannot hold: %v", k, err)
	}
	return cyrusdb.Corruptf(s.db.Format(), off, "record %q: a value Cyrus cannot hold: %v", k, err)
}

// records calls fn with every committed record of a database file, decoded
// for the detected version and checked (checkRecord).
func (s *source) records(ctx context.Context, fn func(key []byte, rec *mboxlist.Record) error) error {
	err := s.iterateAt(func(off int64, k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := mboxlist.DecodeRecord(s.version, k, v, s.names)
		if err != nil {
			return inputErr(s.path, err)
		}
		if err := s.checkRecord(k, off, &rec); err != nil {
			return inputErr(s.path, err)
		}
		return fn(k, &rec)
	})
	return inputErr(s.path, err)
}

// entries calls fn with every mailbox of the source in the order Cyrus 3.6
// `ctl_mboxlist -d` prints them: the file's own key order for a 3.6 file
// (streamed, nothing held), raw dbname order for anything else (sorted as
// an upgrade to 3.6 would store them, through temporary files when they
// do not fit in memory: sortedByDBName), or with streamJSON a JSON dump's
// own order.
// entries36 is entries in the 3.6 model the registry keeps: a pre-3.6
// source's mailboxes get the LEGACY_DIRS flag (`l`), because their files are
// laid out by name, as Cyrus's own upgrade and Convert to 3.6 mark them.
// Nothing else changes. Import and verify read sources this way, so a
// registry that imported a 3.2 file exports that file again without a loss.
func (s *source) entries36(ctx context.Context, fn func(e *mboxlist.Entry) error) error {
	if s.version.ByID() {
		return s.entries(ctx, fn)
	}
	return s.entries(ctx, func(e *mboxlist.Entry) error {
		e.Type |= mboxlist.FlagLegacyDirs
		return fn(e)
	})
}

func (s *source) entries(ctx context.Context, fn func(e *mboxlist.Entry) error) error {
	if s.kind.IsDB() && s.version == mboxlist.V36 {
		// The name history lives in the I records, which sort before every
		// N record (A < I < N in both formats' orders): keep the few
		// non-empty histories while passing the I records, attach them to
		// their N entries. Everything else in the I records repeats the N
		// record. Memory grows only with the number of renamed mailboxes.
		hist := map[string]mboxlist.Entry{}
		err := s.iterateAt(func(off int64, k, v []byte) error {
			if len(k) == 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			switch k[0] {
			case mboxlist.KeyID:
				if bytes.HasSuffix(v, []byte(" H ())")) || !bytes.Contains(v, []byte(" H (")) {
					return nil
				}
				rec, err := mboxlist.DecodeRecord(s.version, k, v, s.names)
				if err != nil {
					return inputErr(s.path, err)
				}
				if err := s.checkRecord(k, off, &rec); err != nil {
					return inputErr(s.path, err)
				}
				if len(rec.Entry.History) > 0 {
					hist[rec.Entry.UniqueID] = rec.Entry
				}
				return nil
			case mboxlist.KeyName:
				rec, err := mboxlist.DecodeRecord(s.version, k, v, s.names)
				if err != nil {
					return inputErr(s.path, err)
				}
				if err := s.checkRecord(k, off, &rec); err != nil {
					return inputErr(s.path, err)
				}
				e := &rec.Entry
				// An I record belongs to the entry only when it names it (a
				// tombstone left by a rename shares the uniqueid).
				if ie, ok := hist[e.UniqueID]; ok && e.UniqueID != "" && ie.Name == e.Name {
					e.History = ie.History
				}
				return fn(e)
			}
			return nil
		})
		return inputErr(s.path, err)
	}
	if s.kind == kindJSON && s.streamJSON {
		_, err := eachDump(s.path, s.kind, s.version, func(e *mboxlist.Entry) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(e)
		})
		return err
	}
	// Not in dbname order: sorted with bounded memory (runs in $TMPDIR).
	return sortedByDBName(ctx, s.names, func(add func(e *mboxlist.Entry) error) error {
		switch s.kind {
		case kindTwoskip, kindSkiplist:
			return s.records(ctx, func(_ []byte, rec *mboxlist.Record) error {
				if rec.Kind == mboxlist.KindEntry {
					return add(&rec.Entry)
				}
				return nil
			})
		default:
			_, err := eachDump(s.path, s.kind, s.version, func(e *mboxlist.Entry) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				return add(e)
			})
			return err
		}
	}, fn)
}

// sortByDBName orders entries by their 3.6 dbname, raw bytes (twoskip order).
func sortByDBName(all []mboxlist.Entry, c *mboxlist.NameConfig) {
	keys := make([]string, len(all))
	for i := range all {
		keys[i] = mboxlist.DBName(all[i].Name, c)
	}
	sort.Sort(byKey{all, keys})
}

type byKey struct {
	e []mboxlist.Entry
	k []string
}

func (b byKey) Len() int           { return len(b.e) }
func (b byKey) Less(i, j int) bool { return bytes.Compare([]byte(b.k[i]), []byte(b.k[j])) < 0 }
func (b byKey) Swap(i, j int) {
	b.e[i], b.e[j] = b.e[j], b.e[i]
	b.k[i], b.k[j] = b.k[j], b.k[i]
}

// parseVersion parses a --cyrus-version value.
func parseVersion(s string) (mboxlist.Version, error) {
	v, err := mboxlist.ParseVersion(s)
	if err != nil {
		return 0, exitcode.With(exitcode.Usage, fmt.Errorf("--cyrus-version: %w (want 2.4, 2.5, 3.0, 3.2, 3.4, 3.6, 3.10 or 3.12)", err))
	}
	return v, nil
}
