package dbfile

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/skiplist"
	"github.com/murderkit/murderkit/twoskip"
)

// Options tune the readers. A nil *Options is the zero value.
type Options struct {
	// SkipTailCRC skips twoskip's key/value CRC check.
	SkipTailCRC bool
	// Compare overrides the format's key order.
	Compare func(a, b []byte) int
}

func badMagic(head []byte) error {
	return cyrusdb.Corruptf(cyrusdb.Unknown, 0, "unknown format: magic %q is neither skiplist nor twoskip", head)
}

// DetectReaderAt reads the first bytes of r and reports the format. A file
// of neither format is a *cyrusdb.CorruptError at offset 0.
func DetectReaderAt(r io.ReaderAt, size int64) (cyrusdb.Format, error) {
	head := make([]byte, min(size, cyrusdb.DetectLen))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return cyrusdb.Unknown, err
	}
	f := cyrusdb.Detect(head)
	if f == cyrusdb.Unknown {
		return f, badMagic(head)
	}
	return f, nil
}

// Detect reports the format of the file at path.
func Detect(path string) (cyrusdb.Format, error) {
	fh, err := os.Open(path)
	if err != nil {
		return cyrusdb.Unknown, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return cyrusdb.Unknown, err
	}
	return DetectReaderAt(fh, st.Size())
}

// Open opens the file at path read-only (no locks) in the format its header
// names.
func Open(path string, opts ...Options) (cyrusdb.Reader, error) {
	f, err := Detect(path)
	if err != nil {
		return nil, err
	}
	o := first(opts)
	switch f {
	case cyrusdb.Skiplist:
		return skiplist.Open(path, &skiplist.Options{Compare: o.Compare})
	case cyrusdb.Twoskip:
		return twoskip.Open(path, &twoskip.Options{Compare: o.Compare, SkipTailCRC: o.SkipTailCRC})
	}
	return nil, fmt.Errorf("dbfile: format %v", f)
}

// OpenReaderAt reads a file of either format from r, whose size is size.
func OpenReaderAt(r io.ReaderAt, size int64, opts ...Options) (cyrusdb.Reader, error) {
	f, err := DetectReaderAt(r, size)
	if err != nil {
		return nil, err
	}
	o := first(opts)
	switch f {
	case cyrusdb.Skiplist:
		return skiplist.NewReader(r, size, skiplist.Options{Compare: o.Compare})
	case cyrusdb.Twoskip:
		return twoskip.NewReader(r, size, twoskip.Options{Compare: o.Compare, SkipTailCRC: o.SkipTailCRC})
	}
	return nil, fmt.Errorf("dbfile: format %v", f)
}

func first(opts []Options) Options {
	if len(opts) > 0 {
		return opts[0]
	}
	return Options{}
}

// Create starts a new file in format f that replaces path on Close (temp
// file, fsync, rename). Records must be added in f's order (twoskip raw,
// skiplist signed-char, unless opts.Compare says otherwise).
func Create(path string, f cyrusdb.Format, opts *cyrusdb.WriteOptions) (cyrusdb.Writer, error) {
	switch f {
	case cyrusdb.Skiplist:
		return skiplist.Create(path, opts)
	case cyrusdb.Twoskip:
		return twoskip.Create(path, opts)
	}
	return nil, fmt.Errorf("dbfile: cannot create a file of format %v", f)
}

// Salvage reads every intact committed record of a damaged file at path,
// in key order, and lists what it had to skip and which records it cannot
// prove current (cyrusdb.Salvaged). The format comes from the header; with
// a damaged magic, pass the format explicitly with SalvageAs.
func Salvage(path string, fn func(key, value []byte) error) (cyrusdb.Format, cyrusdb.Salvaged, error) {
	f, err := Detect(path)
	if err != nil {
		return f, cyrusdb.Salvaged{}, err
	}
	sv, err := SalvageAs(path, f, fn)
	return f, sv, err
}

// SalvageAs is Salvage for a file of a known format. A twoskip file whose
// name ends in ".NEW" is taken for the output of a Cyrus repack (see
// twoskip.SalvageOptions): the complete records of an unfinished one are
// returned, each listed as possibly stale.
func SalvageAs(path string, f cyrusdb.Format, fn func(key, value []byte) error) (cyrusdb.Salvaged, error) {
	fh, err := os.Open(path)
	if err != nil {
		return cyrusdb.Salvaged{}, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return cyrusdb.Salvaged{}, err
	}
	switch f {
	case cyrusdb.Skiplist:
		return skiplist.Salvage(fh, st.Size(), fn)
	case cyrusdb.Twoskip:
		return twoskip.Salvage(fh, st.Size(), &twoskip.SalvageOptions{Repack: strings.HasSuffix(path, ".NEW")}, fn)
	}
	return cyrusdb.Salvaged{}, fmt.Errorf("dbfile: cannot salvage a file of format %v", f)
}
