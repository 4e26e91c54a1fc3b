package mboxlist

import (
	"fmt"
	"strconv"
	"strings"
)

// FieldDiff is one field in which two entries differ. A and B render the
// values as `ctl_mboxlist -d` would print them, quoted, with "absent" for a
// field that is not there at all (which is not the same as `""`).
type FieldDiff struct {
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

func (d FieldDiff) String() string { return d.Field + ": " + d.A + " ≠ " + d.B }

// DiffOptions say what a comparison leaves out because a side cannot hold
// it. The zero value compares every field Cyrus stores.
type DiffOptions struct {
	// IgnoreMtime leaves out M of the entry and of its history items: Cyrus
	// rewrites it on every write, and its undump sets it to the time of the
	// undump.
	IgnoreMtime bool
	// NoACLPresence compares a missing ACL and an empty one as equal: for a
	// side that is a JSON dump (Cyrus prints both as "acl": {}) or a legacy
	// dump line (an empty ACL text reads back as none).
	NoACLPresence bool
	// NoHistory leaves the name history out: for a side that cannot carry
	// it (a dump: `ctl_mboxlist -d` reads N records, which have none).
	NoHistory bool
}

// Diff lists the fields in which a and b differ, in Cyrus's field order:
// mbtype, partition, server, acl, uniqueid, uidvalidity, createdmodseq,
// foldermodseq, mtime, legacy_specialuse, jmapId, name_history. An optional
// string field that is absent differs from one that is present and empty.
// Names are not compared (entries are matched by name).
func Diff(a, b *Entry, o DiffOptions) []FieldDiff {
	var out []FieldDiff
	add := func(field, x, y string) {
		if x != y {
			out = append(out, FieldDiff{Field: field, A: x, B: y})
		}
	}
	opt := func(e *Entry, f Fields) string {
		if !e.Has(f) {
			return "absent"
		}
		return strconv.Quote(e.field(f))
	}
	add("mbtype", a.Type.String(), b.Type.String())
	add("partition", opt(a, FieldPartition), opt(b, FieldPartition))
	add("server", opt(a, FieldServer), opt(b, FieldServer))
	if o.NoACLPresence && (len(a.ACL) == 0) && (len(b.ACL) == 0) {
		// equal: neither has an item, and one side cannot tell none from empty
	} else {
		add("acl", renderACL(a.ACL), renderACL(b.ACL))
	}
	add("uniqueid", opt(a, FieldUniqueID), opt(b, FieldUniqueID))
	add("uidvalidity", strconv.FormatUint(uint64(a.UIDValidity), 10), strconv.FormatUint(uint64(b.UIDValidity), 10))
	add("createdmodseq", strconv.FormatUint(a.CreatedModseq, 10), strconv.FormatUint(b.CreatedModseq, 10))
	add("foldermodseq", strconv.FormatUint(a.FolderModseq, 10), strconv.FormatUint(b.FolderModseq, 10))
	if !o.IgnoreMtime {
		add("mtime", strconv.FormatInt(a.Mtime, 10), strconv.FormatInt(b.Mtime, 10))
	}
	add("legacy_specialuse", opt(a, FieldSpecialUse), opt(b, FieldSpecialUse))
	add("jmapId", opt(a, FieldJMAPID), opt(b, FieldJMAPID))
	if !o.NoHistory {
		n := max(len(a.History), len(b.History))
		for i := 0; i < n; i++ {
			field := "name_history[" + strconv.Itoa(i) + "]"
			switch {
			case i >= len(a.History):
				add(field, "absent", renderHistory(&b.History[i], o))
			case i >= len(b.History):
				add(field, renderHistory(&a.History[i], o), "absent")
			default:
				add(field, renderHistory(&a.History[i], o), renderHistory(&b.History[i], o))
			}
		}
	}
	return out
}

func renderACL(a ACL) string {
	if a == nil {
		return "absent"
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, it := range a {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", it.ID, it.Rights)
	}
	b.WriteByte('}')
	return b.String()
}

func renderHistory(h *HistoryItem, o DiffOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{name %q", h.Name)
	if !o.IgnoreMtime {
		fmt.Fprintf(&b, " mtime %d", h.Mtime)
	}
	fmt.Fprintf(&b, " uidvalidity %d createdmodseq %d foldermodseq %d mbtype %s", h.UIDValidity, h.CreatedModseq, h.FolderModseq, h.Type)
	if h.HasPartition() {
		fmt.Fprintf(&b, " partition %q", h.Partition)
	} else {
		b.WriteString(" partition absent")
	}
	b.WriteByte('}')
	return b.String()
}
