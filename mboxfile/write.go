package mboxfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/mboxlist"
)

// WriteJSON prints the source as Cyrus 3.6 `ctl_mboxlist -d` does: every
// entry but intermediates; entries of an older source converted to 3.6 the
// way the upgrade would (LEGACY_DIRS added), nothing dropped.
func WriteJSON(ctx context.Context, w io.Writer, src *Source) error {
	if src.Kind.IsDB() && src.Version == mboxlist.V36 {
		return writeJSON36(ctx, w, src)
	}
	enc := mboxlist.NewJSONEncoder(w)
	err := src.Entries(ctx, func(e *mboxlist.Entry) error {
		if !mboxlist.DumpFilter(e, false) {
			return nil
		}
		ce := *e
		if src.Version != mboxlist.V36 {
			ce, _ = mboxlist.Convert(src.Version, mboxlist.V36, e)
		}
		return outputErr(enc.Add(&ce))
	})
	if err != nil {
		return err
	}
	return outputErr(enc.Close())
}

// WriteLegacy prints the source as legacy dump lines of version v. Fields
// v cannot hold are dropped (this is a dump for reading; a conversion
// refuses losses, ConvertEntry).
func WriteLegacy(ctx context.Context, w io.Writer, src *Source, v mboxlist.Version) error {
	var b []byte
	return src.Entries(ctx, func(e *mboxlist.Entry) error {
		if !mboxlist.DumpFilter(e, false) {
			return nil
		}
		ce, _ := mboxlist.Convert(src.Version, v, e)
		var err error
		b, err = mboxlist.AppendLegacyLine(b[:0], v, &ce)
		if err != nil {
			return lossErr(fmt.Errorf("%s: %w", e.Name, err))
		}
		_, err = w.Write(b)
		return outputErr(err)
	})
}

// WriteDB encodes every entry for version v and writes the records, sorted
// in the target format's order, as a new skiplist or twoskip file dst
// (written beside it and renamed over it). racl adds the marker record of
// reverse ACLs (their records come from eo).
func WriteDB(dst string, kind dbfile.Kind, v mboxlist.Version, all []mboxlist.Entry, eo *mboxlist.EncodeOptions, racl bool) error {
	var kvs []mboxlist.KV
	if racl {
		if m := mboxlist.RACLMarker(v); m != nil {
			kvs = append(kvs, *m)
		}
	}
	if eo.ReverseUniqueIDs {
		if m := mboxlist.RUNQMarker(v); m != nil {
			kvs = append(kvs, *m)
		}
	}
	for i := range all {
		recs, err := mboxlist.EncodeRecords(v, &all[i], eo)
		if err != nil {
			return lossErr(fmt.Errorf("%s: %w", all[i].Name, err))
		}
		kvs = append(kvs, recs...)
	}
	cmpFn := kind.Compare()
	sort.SliceStable(kvs, func(i, j int) bool { return cmpFn(kvs[i].Key, kvs[j].Key) < 0 })
	kvs, err := DedupByID(kvs, eo.Names)
	if err != nil {
		return err
	}
	w, err := dbfile.Create(dst, kind.Format(), nil)
	if err != nil {
		return outputErr(err)
	}
	for _, kv := range kvs {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			if a, ok := w.(cyrusdb.Aborter); ok {
				a.Abort()
			}
			return outputErr(err)
		}
	}
	return outputErr(w.Close())
}

// DedupByID keeps one I record of each run of sorted records that share an
// I key (entries with one uniqueid: a tombstone left by a RENAME or a
// delayed DELETE and the live mailbox), the one mboxlist.PickByID says
// Cyrus keeps. Any other repeated key is an error.
func DedupByID(kvs []mboxlist.KV, names *mboxlist.NameConfig) ([]mboxlist.KV, error) {
	out := kvs[:0]
	for i := 0; i < len(kvs); {
		j := i + 1
		for j < len(kvs) && bytes.Equal(kvs[i].Key, kvs[j].Key) {
			j++
		}
		if j-i == 1 {
			out = append(out, kvs[i])
			i = j
			continue
		}
		if kvs[i].Key[0] != mboxlist.KeyID {
			return nil, duplicateKeyErr(kvs[i].Key)
		}
		vals := make([][]byte, 0, j-i)
		for _, kv := range kvs[i:j] {
			vals = append(vals, kv.Value)
		}
		k, err := mboxlist.PickByID(kvs[i].Key, vals, names)
		if err != nil {
			return nil, &Error{Input, err}
		}
		out = append(out, kvs[i+k])
		i = j
	}
	return out, nil
}

// ErrDuplicateKey is in the error of two records with one key (Input).
var ErrDuplicateKey = errors.New("duplicate key")

func duplicateKeyErr(key []byte) error {
	return &Error{Input, fmt.Errorf("two records with the key %q (a name repeats): %w", key, ErrDuplicateKey)}
}

// WriteFileAtomic writes dst through a temporary file in the same
// directory, synced and renamed over dst.
func WriteFileAtomic(dst string, fn func(w io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return outputErr(err)
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return outputErr(err)
	}
	if err := fn(tmp); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return outputErr(err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return outputErr(err)
	}
	return nil
}

// WriteEntriesJSON writes a Cyrus 3.6 `ctl_mboxlist -d` dump of every entry
// (intermediates included: a conversion keeps everything, and an entry
// without an ACL has no acl member, which Cyrus's undump reads back as no
// ACL, where ctl_mboxlist -d would print "acl": {}).
func WriteEntriesJSON(w io.Writer, all []mboxlist.Entry) error {
	enc := mboxlist.NewJSONEncoder(w)
	enc.KeepNilACL = true
	for i := range all {
		if err := enc.Add(&all[i]); err != nil {
			return outputErr(err)
		}
	}
	return outputErr(enc.Close())
}

// WriteEntriesLegacy writes legacy dump lines of version v.
func WriteEntriesLegacy(w io.Writer, all []mboxlist.Entry, v mboxlist.Version) error {
	var b []byte
	for i := range all {
		var err error
		b, err = mboxlist.AppendLegacyLine(b[:0], v, &all[i])
		if err != nil {
			return lossErr(fmt.Errorf("%s: %w", all[i].Name, err))
		}
		if _, err := w.Write(b); err != nil {
			return outputErr(err)
		}
	}
	return nil
}
