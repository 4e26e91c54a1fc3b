package mboxfile

import (
	"bytes"
	"context"
	"errors"
	"sort"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/mboxlist"
)

// errStop ends an iteration early.
var errStop = errors.New("stop")

// Source is an opened file of mailboxes: a database file, or a text dump.
type Source struct {
	Path string
	Kind dbfile.Kind
	// Version is the Cyrus version of the values (database files: found
	// by Open; legacy dumps: by LegacyDumpVersion); V36 for JSON dumps.
	// A caller that knows better (a legacy dump it wrote) may set it.
	Version mboxlist.Version
	// Decided: a key decided 3.6-or-older the way Cyrus's upgrade check
	// does (database files).
	Decided bool
	db      cyrusdb.Reader // database files
	names   *mboxlist.NameConfig
	salv    *Salvaged // OpenOptions.Salvage: what was skipped
	// StreamJSON: a JSON dump's entries are passed on in the dump's
	// order as they are read, not held and sorted by dbname (a bulk
	// import, which refuses entries out of order and then reads the
	// source again without StreamJSON).
	StreamJSON bool
}

// OpenOptions tune Open.
type OpenOptions struct {
	// Salvage reads a damaged database file with the format's salvage
	// reader: every intact committed record (Source.Salvaged lists what
	// was skipped).
	Salvage bool
	// AllowCrashTail reads a database file whose uncommitted tail is most
	// of it (its committed state); otherwise that is damage (OpenDB).
	AllowCrashTail bool
	// OnTail, when set, is called with an uncommitted crash tail of a
	// database file as soon as the file is open (not an error: Cyrus
	// discards it on its next recovery).
	OnTail func(t *cyrusdb.Tail)
}

// Open opens path, a file of the kind given (dbfile.Sniff). For a
// database file it finds the Cyrus version of the values with a first pass
// over the records (it stops as soon as the keys say 3.6).
func Open(ctx context.Context, path string, kind dbfile.Kind, o OpenOptions) (*Source, error) {
	s := &Source{Path: path, Kind: kind}
	switch kind {
	case dbfile.KindJSON:
		s.Version = mboxlist.V36
		return s, nil
	case dbfile.KindLegacy:
		v, err := LegacyDumpVersion(path)
		if err != nil {
			return nil, inputErr(path, err)
		}
		s.Version = v
		return s, nil
	}
	if o.Salvage {
		sv, err := OpenSalvaged(path, kind)
		if err != nil {
			return nil, err
		}
		s.db, s.salv = sv, sv
	} else {
		db, err := OpenDB(path, kind, o.AllowCrashTail)
		if err != nil {
			return nil, inputErr(path, err)
		}
		s.db = db
		if t := db.Tail(); t != nil && o.OnTail != nil {
			o.OnTail(t)
		}
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
	s.Version, s.Decided = d.Version(), d.Decided()
	return s, nil
}

// Close releases the file.
func (s *Source) Close() error {
	if s.db != nil {
		return s.db.Close()
	}
	return nil
}

// DB is the reader of a database file (nil for a dump).
func (s *Source) DB() cyrusdb.Reader { return s.db }

// Names is the name configuration the values are decoded with (nil: the
// defaults).
func (s *Source) Names() *mboxlist.NameConfig { return s.names }

// Count is the number of mailboxes when it is cheap to know: the N records
// of a 3.6 database file, counted in one pass over the keys (ok false for
// any other source, or when the pass fails: the read proper reports that).
func (s *Source) Count() (n int64, ok bool) {
	if !s.Kind.IsDB() || s.Version != mboxlist.V36 {
		return 0, false
	}
	err := s.db.Iterate(func(k, _ []byte) error {
		if len(k) > 0 && k[0] == mboxlist.KeyName {
			n++
		}
		return nil
	})
	return n, err == nil
}

// Salvaged is what OpenOptions.Salvage skipped (nil without it).
func (s *Source) Salvaged() *Salvaged { return s.salv }

// IterateAt walks the committed records of a database file with their
// file offsets (-1 when the reader cannot tell them).
func (s *Source) IterateAt(fn func(off int64, k, v []byte) error) error {
	if oi, ok := s.db.(cyrusdb.OffsetIterator); ok {
		return oi.IterateAt(fn)
	}
	return s.db.Iterate(func(k, v []byte) error { return fn(-1, k, v) })
}

// CheckRecord validates what a record decoded to (mboxlist.Entry.Check):
// skiplist has no checksums and a twoskip checksum covers only what was
// written, so a damaged or hostile value is caught only by what it means.
// The error names the record's key and file offset; it is damage (exit
// status 3).
func (s *Source) CheckRecord(key []byte, off int64, rec *mboxlist.Record) error {
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

// decode decodes the record at file offset off for the source's version
// and checks it (CheckRecord); an error is Input, named after the file.
func (s *Source) decode(off int64, k, v []byte) (mboxlist.Record, error) {
	rec, err := mboxlist.DecodeRecord(s.Version, k, v, s.names)
	if err == nil {
		err = s.CheckRecord(k, off, &rec)
	}
	return rec, inputErr(s.Path, err)
}

// Records calls fn with every committed record of a database file, decoded
// for the detected version and checked (checkRecord).
func (s *Source) Records(ctx context.Context, fn func(key []byte, rec *mboxlist.Record) error) error {
	err := s.IterateAt(func(off int64, k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := s.decode(off, k, v)
		if err != nil {
			return err
		}
		return fn(k, &rec)
	})
	return inputErr(s.Path, err)
}

// Entries calls fn with every mailbox of the source in the order Cyrus 3.6
// `ctl_mboxlist -d` prints them: the file's own key order for a 3.6 file
// (streamed, nothing held), raw dbname order for anything else (sorted as
// an upgrade to 3.6 would store them, through temporary files when they
// do not fit in memory: sortedByDBName), or with StreamJSON a JSON dump's
// own order.
// Entries36 is Entries in the 3.6 model the registry keeps: a pre-3.6
// source's mailboxes get the LEGACY_DIRS flag (`l`), because their files are
// laid out by name, as Cyrus's own upgrade and Convert to 3.6 mark them.
// Nothing else changes. Import and verify read sources this way, so a
// registry that imported a 3.2 file exports that file again without a loss.
func (s *Source) Entries36(ctx context.Context, fn func(e *mboxlist.Entry) error) error {
	if s.Version.ByID() {
		return s.Entries(ctx, fn)
	}
	return s.Entries(ctx, func(e *mboxlist.Entry) error {
		e.Type |= mboxlist.FlagLegacyDirs
		return fn(e)
	})
}

func (s *Source) Entries(ctx context.Context, fn func(e *mboxlist.Entry) error) error {
	if s.Kind.IsDB() && s.Version == mboxlist.V36 {
		// The name history lives in the I records, which sort before every
		// N record (A < I < N in both formats' orders): keep the few
		// non-empty histories while passing the I records, attach them to
		// their N entries. Everything else in the I records repeats the N
		// record. Memory grows only with the number of renamed mailboxes.
		hist := histories{}
		err := s.IterateAt(func(off int64, k, v []byte) error {
			if len(k) == 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			switch k[0] {
			case mboxlist.KeyID:
				return hist.add(s, off, k, v)
			case mboxlist.KeyName:
				rec, err := s.decode(off, k, v)
				if err != nil {
					return err
				}
				hist.attach(&rec.Entry)
				return fn(&rec.Entry)
			}
			return nil
		})
		return inputErr(s.Path, err)
	}
	if s.Kind == dbfile.KindJSON && s.StreamJSON {
		_, err := EachDump(s.Path, s.Kind, s.Version, func(e *mboxlist.Entry) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(e)
		})
		return err
	}
	// Not in dbname order: sorted with bounded memory (runs in $TMPDIR).
	return sortedByDBName(ctx, s.names, func(add func(e *mboxlist.Entry) error) error {
		switch s.Kind {
		case dbfile.KindTwoskip, dbfile.KindSkiplist:
			return s.Records(ctx, func(_ []byte, rec *mboxlist.Record) error {
				if rec.Kind == mboxlist.KindEntry {
					return add(&rec.Entry)
				}
				return nil
			})
		default:
			_, err := EachDump(s.Path, s.Kind, s.Version, func(e *mboxlist.Entry) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				return add(e)
			})
			return err
		}
	}, fn)
}

// histories holds the name histories of a 3.6 file's I records by
// uniqueid, for the N entries that follow them (A < I < N in both formats'
// orders).
type histories map[string]mboxlist.Entry

// add keeps the history of an I record; one without a history is not even
// decoded (everything else in it repeats the N record).
func (h histories) add(s *Source, off int64, k, v []byte) error {
	if bytes.HasSuffix(v, []byte(" H ())")) || !bytes.Contains(v, []byte(" H (")) {
		return nil
	}
	rec, err := s.decode(off, k, v)
	if err != nil {
		return err
	}
	if len(rec.Entry.History) > 0 {
		h[rec.Entry.UniqueID] = rec.Entry
	}
	return nil
}

// attach gives e the history of its I record. An I record belongs to the
// entry only when it names it (a tombstone left by a rename shares the
// uniqueid).
func (h histories) attach(e *mboxlist.Entry) {
	if ie, ok := h[e.UniqueID]; ok && e.UniqueID != "" && ie.Name == e.Name {
		e.History = ie.History
	}
}

// SortByDBName orders entries by their 3.6 dbname, raw bytes (twoskip order).
func SortByDBName(all []mboxlist.Entry, c *mboxlist.NameConfig) {
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
