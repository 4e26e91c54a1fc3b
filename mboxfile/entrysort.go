package mboxfile

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/murderkit/murderkit/internal/extsort"
	"github.com/murderkit/murderkit/mboxlist"
)

// EntrySortBudget is the bytes of encoded entries (about 150 to 300 each)
// an entrySorter buffers before it writes them as a sorted run; at most two
// buffers and their index exist (extsort.Sorter), about 2.5 times this.
// A variable for the tests that make the entries go through runs on disk.
var EntrySortBudget = 64 << 20

// entrySortPattern names the temporary directory of the runs in $TMPDIR.
const entrySortPattern = "mboxconv-sort-"

// sortedByDBName calls fn with every entry read passes to add, in raw
// 3.6 dbname order (mboxlist.DBName with names; equal names in the order
// they were read). It is the order of Cyrus 3.6's file and of
// `ctl_mboxlist -d`, for the sources that are not read in it: a JSON dump
// in another order, a legacy dump, a pre-3.6 file.
//
// Memory is bounded whatever the number of entries: the entries are
// encoded (appendSortEntry) into an external sort (internal/extsort) whose
// runs go into a temporary directory in $TMPDIR, made only when the
// entries do not fit in one buffer and removed at the end. Nothing reaches
// fn before read has returned without an error, as when the entries were
// held in memory. Writing the runs failing (no room in $TMPDIR) is an
// Output error naming the directory.
func sortedByDBName(ctx context.Context, names *mboxlist.NameConfig, read func(add func(e *mboxlist.Entry) error) error, fn func(e *mboxlist.Entry) error) error {
	s := extsort.NewTempSorter(entrySortPattern, EntrySortBudget, bytes.Compare)
	defer s.Close()
	var key, val []byte
	var sortErr error
	err := read(func(e *mboxlist.Entry) error {
		key = append(key[:0], mboxlist.DBName(e.Name, names)...)
		val = appendSortEntry(val[:0], e)
		if err := s.Add(key, val); err != nil {
			sortErr = err
			return err
		}
		return nil
	})
	if sortErr != nil {
		return sortTempErr(s, sortErr)
	}
	if err != nil {
		return err
	}
	var e mboxlist.Entry
	var fnErr error
	n := 0
	err = s.Merge(func(_, v []byte) error {
		if n++; n%1024 == 0 {
			if fnErr = ctx.Err(); fnErr != nil {
				return fnErr
			}
		}
		if err := decodeSortEntry(v, &e); err != nil {
			return &Error{Internal, err}
		}
		fnErr = fn(&e)
		return fnErr
	})
	if err != nil && fnErr == nil && !errors.Is(err, errSortRecord) {
		return sortTempErr(s, err) // reading or writing a run
	}
	return err
}

// sortTempErr is a failure of the sort's temporary files (Output).
func sortTempErr(s *extsort.Sorter, err error) error {
	where := s.Dir()
	if where == "" {
		where = os.TempDir()
	}
	return &Error{Output, fmt.Errorf("sorting the entries by dbname in temporary files under %s (set TMPDIR to a directory with room): %w", where, err)}
}

// errSortRecord: a run record that does not decode, which only a bug or a
// run file changed under the sort can give.
var errSortRecord = errors.New("sorted entry record does not decode")

// The run value of an entry: every field of mboxlist.Entry, so that
// decodeSortEntry gives back an equal entry (nil and empty ACL and
// history apart, and the Empty bits): strings as uvarint length and
// bytes, numbers as uvarints (Mtime as a zigzag varint), ACL and history
// as 0 for nil, else count+1. The format lives only for one sort.
func appendSortEntry(b []byte, e *mboxlist.Entry) []byte {
	b = appendSortStr(b, e.Name)
	b = binary.AppendUvarint(b, uint64(e.Type))
	b = appendSortStr(b, e.Partition)
	b = appendSortStr(b, e.Server)
	if e.ACL == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(e.ACL))+1)
		for _, a := range e.ACL {
			b = appendSortStr(b, a.ID)
			b = appendSortStr(b, a.Rights)
		}
	}
	b = appendSortStr(b, e.UniqueID)
	b = binary.AppendUvarint(b, uint64(e.UIDValidity))
	b = binary.AppendUvarint(b, e.CreatedModseq)
	b = binary.AppendUvarint(b, e.FolderModseq)
	b = binary.AppendVarint(b, e.Mtime)
	b = appendSortStr(b, e.LegacySpecialUse)
	if e.History == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(e.History))+1)
		for i := range e.History {
			h := &e.History[i]
			b = appendSortStr(b, h.Name)
			b = binary.AppendVarint(b, h.Mtime)
			b = binary.AppendUvarint(b, uint64(h.UIDValidity))
			b = binary.AppendUvarint(b, h.CreatedModseq)
			b = binary.AppendUvarint(b, h.FolderModseq)
			b = binary.AppendUvarint(b, uint64(h.Type))
			b = appendSortStr(b, h.Partition)
			if h.EmptyPartition {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	}
	b = appendSortStr(b, e.JMAPID)
	return binary.AppendUvarint(b, uint64(e.Empty))
}

func appendSortStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// sortReader reads a run value; the first problem is kept in err.
type sortReader struct {
	b   []byte
	err error
}

// sortVarint reads one varint with read (binary.Uvarint or binary.Varint).
func sortVarint[T uint64 | int64](r *sortReader, read func([]byte) (T, int)) T {
	if r.err != nil {
		return 0
	}
	v, n := read(r.b)
	if n <= 0 {
		r.err = errSortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *sortReader) uv() uint64 { return sortVarint(r, binary.Uvarint) }
func (r *sortReader) sv() int64  { return sortVarint(r, binary.Varint) }

func (r *sortReader) str() string {
	n := r.uv()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errSortRecord
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// count reads a nil-or-count+1 length; -1 for nil.
func (r *sortReader) count() int {
	n := r.uv()
	if r.err != nil || n == 0 {
		return -1
	}
	if n-1 > uint64(len(r.b)) { // every item takes at least a byte
		r.err = errSortRecord
		return -1
	}
	return int(n - 1)
}

// decodeSortEntry decodes appendSortEntry's form into e (overwritten).
func decodeSortEntry(b []byte, e *mboxlist.Entry) error {
	r := &sortReader{b: b}
	*e = mboxlist.Entry{}
	e.Name = r.str()
	e.Type = mboxlist.MBType(r.uv())
	e.Partition = r.str()
	e.Server = r.str()
	if n := r.count(); n >= 0 {
		e.ACL = make(mboxlist.ACL, n)
		for i := range e.ACL {
			e.ACL[i] = mboxlist.ACLItem{ID: r.str(), Rights: r.str()}
		}
	}
	e.UniqueID = r.str()
	e.UIDValidity = uint32(r.uv())
	e.CreatedModseq = r.uv()
	e.FolderModseq = r.uv()
	e.Mtime = r.sv()
	e.LegacySpecialUse = r.str()
	if n := r.count(); n >= 0 {
		e.History = make([]mboxlist.HistoryItem, n)
		for i := range e.History {
			h := &e.History[i]
			h.Name = r.str()
			h.Mtime = r.sv()
			h.UIDValidity = uint32(r.uv())
			h.CreatedModseq = r.uv()
			h.FolderModseq = r.uv()
			h.Type = mboxlist.MBType(r.uv())
			h.Partition = r.str()
			h.EmptyPartition = r.uv() == 1
		}
	}
	e.JMAPID = r.str()
	e.Empty = mboxlist.Fields(r.uv())
	if r.err == nil && len(r.b) != 0 {
		r.err = errSortRecord
	}
	if r.err != nil {
		return fmt.Errorf("%w (%d bytes)", r.err, len(b))
	}
	return nil
}
