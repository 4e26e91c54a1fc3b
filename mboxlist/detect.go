package mboxlist

import "bytes"

// Detector finds the Cyrus version that wrote a mailboxes.db from its
// records, fed in key order. The key-kind decision is Cyrus 3.6's own
// upgrade check (docs/cyrus-db.md §4.4): the first `$RACL`/`$RUNQ` key means
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
