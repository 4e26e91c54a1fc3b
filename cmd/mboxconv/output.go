package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
)

// writeJSON prints the source as Cyrus 3.6 `ctl_mboxlist -d` does: every
// entry but intermediates; entries of an older source converted to 3.6 the
// way the upgrade would (LEGACY_DIRS added), nothing dropped.
func writeJSON(ctx context.Context, w io.Writer, src *source) error {
	if src.kind.isDB() && src.version == mboxlist.V36 {
		return writeJSON36(ctx, w, src)
	}
	enc := mboxlist.NewJSONEncoder(w)
	err := src.entries(ctx, func(e *mboxlist.Entry) error {
		if !mboxlist.DumpFilter(e, false) {
			return nil
		}
		ce := *e
		if src.version != mboxlist.V36 {
			ce, _ = mboxlist.Convert(src.version, mboxlist.V36, e)
		}
		return outputErr(enc.Add(&ce))
	})
	if err != nil {
		return err
	}
	return outputErr(enc.Close())
}

// writeLegacy prints the source as legacy dump lines of version v. Fields
// v cannot hold are dropped (this is a dump for reading; convert refuses
// losses unless --lossy).
func writeLegacy(ctx context.Context, w io.Writer, src *source, v mboxlist.Version) error {
	var b []byte
	return src.entries(ctx, func(e *mboxlist.Entry) error {
		if !mboxlist.DumpFilter(e, false) {
			return nil
		}
		ce, _ := mboxlist.Convert(src.version, v, e)
		var err error
		b, err = mboxlist.AppendLegacyLine(b[:0], v, &ce)
		if err != nil {
			return exitcode.With(exitcode.Lossy, fmt.Errorf("%s: %w", e.Name, err))
		}
		_, err = w.Write(b)
		return outputErr(err)
	})
}

// legacyDumpVersion picks how to read a legacy dump: lines with the
// `>uniqueid mtime ...` tail are 3.6 `-u -L` lines (3.6 type numbering);
// anything else is read as a 2.4–3.4 dump (old numbering, server!partition
// split), which is what every version's `-u` accepted.
func legacyDumpVersion(path string) (mboxlist.Version, error) {
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

// readDump reads every entry of a JSON or legacy dump; the version of
// legacy lines is v, or found by legacyDumpVersion when v is 0.
func readDump(path string, kind srcKind, v mboxlist.Version) ([]mboxlist.Entry, mboxlist.Version, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, inputErr(path, err)
	}
	defer f.Close()
	var all []mboxlist.Entry
	if kind == kindJSON {
		d := mboxlist.NewJSONDecoder(bufio.NewReaderSize(f, 1<<20))
		for d.Next() {
			all = append(all, *d.Entry())
		}
		return all, mboxlist.V36, inputErr(path, d.Err())
	}
	if v == 0 {
		if v, err = legacyDumpVersion(path); err != nil {
			return nil, 0, inputErr(path, err)
		}
	}
	d := mboxlist.NewLegacyDecoder(bufio.NewReaderSize(f, 1<<20), v)
	for d.Next() {
		all = append(all, *d.Entry())
	}
	return all, v, inputErr(path, d.Err())
}
