package mboxfile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/mboxlist"
)

// LegacyDumpVersion picks how to read a legacy dump: lines with the
// `>uniqueid mtime ...` tail are 3.6 `-u -L` lines (3.6 type numbering);
// anything else is read as a 2.4–3.4 dump (old numbering, server!partition
// split), which is what every version's `-u` accepted.
func LegacyDumpVersion(path string) (mboxlist.Version, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), mboxlist.MaxLegacyLine+2)
	for sc.Scan() {
		line := sc.Bytes()
		if i := bytes.IndexByte(line, '\t'); i >= 0 && bytes.IndexByte(line[i:], '>') >= 0 {
			return mboxlist.V36, nil
		}
	}
	return mboxlist.V34, nil
}

// ReadDump reads every entry of a JSON or legacy dump; the version of
// legacy lines is v, or found by LegacyDumpVersion when v is 0.
func ReadDump(path string, kind dbfile.Kind, v mboxlist.Version) ([]mboxlist.Entry, mboxlist.Version, error) {
	var all []mboxlist.Entry
	v, err := EachDump(path, kind, v, func(e *mboxlist.Entry) error {
		all = append(all, *e)
		return nil
	})
	return all, v, err // what was read before an error too (inspect shows it)
}

// EachDump calls fn with every entry of a JSON or legacy dump, in the
// dump's order, as it reads them (memory does not grow with the dump). An
// error of fn stops the read and is returned as it is.
func EachDump(path string, kind dbfile.Kind, v mboxlist.Version, fn func(e *mboxlist.Entry) error) (mboxlist.Version, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, inputErr(path, err)
	}
	defer f.Close()
	n := 0
	// every entry is checked (mboxlist.Entry.Check): a dump is text anyone
	// can edit, and Cyrus's ctl_mboxlist -u stores what it is given
	check := func(e *mboxlist.Entry) error {
		if err := e.Check(nil); err != nil {
			name := e.Name
			if len(name) > 80 {
				name = name[:80] + "..."
			}
			return inputErr(path, fmt.Errorf("dump entry %d (%q): a value Cyrus cannot hold: %w", n+1, name, err))
		}
		return nil
	}
	if kind == dbfile.KindJSON {
		d := mboxlist.NewJSONDecoder(bufio.NewReaderSize(f, 1<<20))
		for d.Next() {
			if err := check(d.Entry()); err != nil {
				return mboxlist.V36, err
			}
			if err := fn(d.Entry()); err != nil {
				return mboxlist.V36, err
			}
			n++
		}
		return mboxlist.V36, inputErr(path, d.Err())
	}
	if err := legacyEndsWithNewline(f); err != nil {
		return 0, inputErr(path, err)
	}
	if v == 0 {
		if v, err = LegacyDumpVersion(path); err != nil {
			return 0, inputErr(path, err)
		}
	}
	d := mboxlist.NewLegacyDecoder(bufio.NewReaderSize(f, 1<<20), v)
	for d.Next() {
		if err := check(d.Entry()); err != nil {
			return v, err
		}
		if err := fn(d.Entry()); err != nil {
			return v, err
		}
		n++
	}
	return v, inputErr(path, d.Err())
}

// legacyEndsWithNewline refuses a legacy dump whose last line has no final
// newline: every line Cyrus writes ends with one, so the file was cut short,
// maybe inside the rights or the partition, and the line would decode to a
// wrong record (Cyrus's ctl_mboxlist -u stores it as it is). Blanks after
// the last newline are allowed. f is left at offset 0.
func legacyEndsWithNewline(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	n := min(size, int64(mboxlist.MaxLegacyLine)+1)
	tail := make([]byte, n)
	if _, err := f.ReadAt(tail, size-n); err != nil && err != io.EOF {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	last := tail[bytes.LastIndexByte(tail, '\n')+1:]
	if len(bytes.TrimSpace(last)) == 0 {
		return nil
	}
	off := size - int64(len(last))
	return &mboxlist.DumpError{Offset: off, What: fmt.Sprintf("the last line (%d bytes) has no final newline: the dump was cut short", len(last)), Err: mboxlist.ErrSyntax}
}
