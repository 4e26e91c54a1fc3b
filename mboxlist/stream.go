package mboxlist

import (
	"bytes"
	"errors"
)

// RecordIterator is what the skiplist and twoskip readers offer: committed
// records in key order. Key and Value are valid until the next Next.
type RecordIterator interface {
	Next() bool
	Key() []byte
	Value() []byte
	Err() error
}

// DecoderOptions configure a Decoder.
type DecoderOptions struct {
	// Version of the values; required (run a Detector over the records
	// first: NewDecoder refuses VersionUnknown).
	Version Version
	Names   *NameConfig
	// ByID, when set, is called for every 3.6 entry that has a uniqueid to
	// fetch the value of its I record (key "I"+uniqueid), which holds the
	// name history. With a twoskip or skiplist file this is a point lookup
	// in the same file, so the decoder never holds more than one entry: the
	// I records sort before all N records, so a single forward pass could
	// only join them by buffering every I record. ok=false means there is
	// no I record (normal for murder frontend entries). Without ByID,
	// entries carry no History, as in `ctl_mboxlist -d`.
	ByID func(uniqueid string) (value []byte, ok bool, err error)
	// As36 returns the entries of a pre-3.6 file in the 3.6 shape (Convert
	// from Version to V36: the LEGACY_DIRS flag added), which is what
	// `mboxconv dump` prints for such a file.
	As36 bool
	// Strict decodes every record, I and reverse-ACL records included, and
	// stops at the first bad one; by default only the records that become
	// entries are decoded (N records of a 3.6 file).
	Strict bool
}

// Decoder turns the records of a mailboxes.db of any version, in key order,
// into entries, one at a time. Marker, reverse-ACL, reverse-uniqueid and
// (for 3.6) I records are consumed, not returned; use DecodeRecord to see
// them.
type Decoder struct {
	it    RecordIterator
	opt   DecoderOptions
	entry Entry
	rec   Record
	err   error
}

// NewDecoder returns a Decoder reading it. opt.Version must be known (use
// Detector first to find it).
func NewDecoder(it RecordIterator, opt DecoderOptions) *Decoder {
	d := &Decoder{it: it, opt: opt}
	if opt.Version == VersionUnknown {
		d.err = errors.New("mboxlist: NewDecoder needs a Version (run a Detector first)")
	}
	return d
}

// Next advances to the next entry. It returns false at the end or on the
// first error (see Err).
func (d *Decoder) Next() bool {
	if d.err != nil {
		return false
	}
	for d.it.Next() {
		if k := d.it.Key(); d.opt.Version.ByID() && (len(k) == 0 || k[0] != KeyName) && !d.opt.Strict {
			continue // I, A and J records are not entries
		}
		rec, err := DecodeRecord(d.opt.Version, d.it.Key(), d.it.Value(), d.opt.Names)
		if err != nil {
			d.err = err
			return false
		}
		if rec.Kind != KindEntry {
			continue
		}
		d.rec = rec
		d.entry = rec.Entry
		if d.opt.As36 && !d.opt.Version.ByID() {
			d.entry, _ = Convert(d.opt.Version, V36, &d.entry)
		}
		if d.opt.ByID != nil && d.opt.Version.ByID() && d.entry.UniqueID != "" {
			val, ok, err := d.opt.ByID(d.entry.UniqueID)
			if err != nil {
				d.err = err
				return false
			}
			if ok {
				ie, err := DecodeIValue(d.entry.UniqueID, val, d.opt.Names)
				if err != nil {
					d.err = withKey(err, append([]byte{KeyID}, d.entry.UniqueID...))
					return false
				}
				// An I record belongs to the entry only when it names it
				// (a tombstone left by a rename shares the uniqueid).
				if ie.Name == d.entry.Name {
					d.entry.History = ie.History
				}
			}
		}
		return true
	}
	d.err = d.it.Err()
	return false
}

// Entry is the current entry; it stays valid after the next Next.
func (d *Decoder) Entry() *Entry { e := d.entry; return &e }

// Format is the value shape of the current entry.
func (d *Decoder) Format() ValueFormat { return d.rec.Format }

// Err is the first error met, nil at a clean end.
func (d *Decoder) Err() error { return d.err }

// Detector finds the Cyrus version that wrote a mailboxes.db from its
// records, fed in key order. The key-kind decision is Cyrus 3.6's own
// upgrade check (cyrus-formats.md §3.5): the first `$RACL`/`$RUNQ` key means
// pre-3.6; the `AS\x1E` marker means 3.6; the first I key means 3.6 when its
// value has an N field; the first N key means 3.6. Value shapes then refine a
// pre-3.6 guess to the oldest version that can have written every value seen
// (dlist → 2.5, F or letter b or $RACL → 3.0, C or letters i s p → 3.2,
// $RACL value 2 or $RUNQ → 3.4), and also check the 3.6 guess (an N key
// whose value does not start with `%(T ` is a pre-3.6 name that begins with
// N).
type Detector struct {
	decided bool
	is36    bool
	min     Version
	records int
}

// Add feeds one record.
func (d *Detector) Add(key, value []byte) {
	d.records++
	if d.min == VersionUnknown {
		d.min = V24
	}
	if !d.decided && len(key) > 0 {
		switch {
		case bytes.HasPrefix(key, []byte("$RACL")) || bytes.HasPrefix(key, []byte("$RUNQ")):
			d.decided = true
		case string(key) == RACLMark:
			d.decided, d.is36 = true, true
		case key[0] == KeyID && bytes.HasPrefix(value, []byte("%(")):
			d.decided = true
			d.is36 = hasTopField(value, "N")
		case key[0] == KeyName && bytes.HasPrefix(value, []byte("%(T ")):
			d.decided, d.is36 = true, true
		}
	}
	// Pre-3.6 refinements.
	raise := func(v Version) {
		if v > d.min {
			d.min = v
		}
	}
	switch {
	case string(key) == "$RACL":
		if string(value) == "2" {
			raise(V34)
		} else {
			raise(V30)
		}
		return
	case bytes.HasPrefix(key, []byte("$RUNQ")):
		raise(V34)
		return
	case bytes.HasPrefix(key, []byte("$RACL$")):
		raise(V30)
		return
	}
	if len(value) > 0 && value[0] == '%' {
		raise(V25)
		if d.min >= V34 || (d.decided && d.is36) {
			return // nothing more to learn from values
		}
		var e Entry
		if scanEntry(value, modeLegacy, &e, nil) == nil {
			if e.FolderModseq != 0 || e.Type.Kind() == TypeCollection {
				raise(V30)
			}
			if e.CreatedModseq != 0 || e.Type.Has(FlagIntermediate) || e.Type.Kind() == TypeSubmission || e.Type.Kind() == TypePushSub {
				raise(V32)
			}
		}
	}
}

// hasTopField reports whether a dlist kvlist value has the field at top level.
func hasTopField(value []byte, field string) bool {
	root, ve := parseDlist(value)
	if ve != nil || root.kind != dKVList {
		return false
	}
	for _, k := range root.kids {
		if k.key == field {
			return true
		}
	}
	return false
}

// Version is the detected version: V36, or the oldest pre-3.6 version that
// fits every value seen. An empty database gives V36.
func (d *Detector) Version() Version {
	if d.records == 0 {
		return V36
	}
	if d.decided && d.is36 {
		return V36
	}
	return d.min
}

// Decided reports whether a key decided between 3.6 and older (Cyrus's
// rule); when false, Cyrus 3.6 would run its legacy upgrade on the file.
func (d *Detector) Decided() bool { return d.decided }
