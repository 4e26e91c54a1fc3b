package shadow

import (
	"fmt"
	"slices"
	"strings"
)

// DiffKind names what differs about one mailbox.
type DiffKind string

const (
	OnlyOld   DiffKind = "only_old"  // listed by the old side only
	OnlyNew   DiffKind = "only_new"  // listed by the new side only
	AttrsDiff DiffKind = "attrs"     // listed by both, attributes differ
	DelimDiff DiffKind = "delim"     // listed by both, delimiters differ
	Duplicate DiffKind = "duplicate" // one side listed the same name twice
)

// Difference is one mailbox that is not the same on both sides.
type Difference struct {
	Kind DiffKind `json:"kind"`
	Name string   `json:"name"` // as sent on the wire (modified UTF-7)
	Old  *Mailbox `json:"old,omitempty"`
	New  *Mailbox `json:"new,omitempty"`
}

// String is the one-line form printed on stdout.
func (d Difference) String() string {
	desc := func(m *Mailbox) string {
		return fmt.Sprintf("delim=%q attrs=(%s)", m.Delim, strings.Join(m.Attrs, " "))
	}
	switch d.Kind {
	case OnlyOld:
		return fmt.Sprintf("only-old %q %s", d.Name, desc(d.Old))
	case OnlyNew:
		return fmt.Sprintf("only-new %q %s", d.Name, desc(d.New))
	case Duplicate:
		side := "old"
		if d.Old == nil {
			side = "new"
		}
		return fmt.Sprintf("duplicate %q on the %s side", d.Name, side)
	default:
		return fmt.Sprintf("%s %q old: %s new: %s", d.Kind, d.Name, desc(d.Old), desc(d.New))
	}
}

// CompareOptions choose what is compared.
type CompareOptions struct {
	// StructuralOnly compares only \HasChildren, \HasNoChildren,
	// \Noinferiors, \Noselect and \NonExistent (the registry side, whose
	// subscriptions and special-use live on backends).
	StructuralOnly bool
}

// Compare normalises copies of both listings and returns every difference,
// sorted by name. Subscription and special-use attributes are compared only
// when both listings are Extended and StructuralOnly is off; otherwise they
// are removed from both sides first.
func Compare(old, new *Listing, o CompareOptions) []Difference {
	a, b := Prepare(old, new, o)
	return diffPrepared(a, b)
}

// Prepare returns normalised copies of both listings holding only the
// attributes Compare looks at under o.
func Prepare(old, new *Listing, o CompareOptions) (a, b *Listing) {
	keep := func(a string) bool { return true }
	if o.StructuralOnly {
		keep = func(a string) bool { return structuralAttrs[a] }
	} else if !old.Extended || !new.Extended {
		keep = func(a string) bool { return a != `\Subscribed` && !specialUseAttrs[a] }
	}
	a, b = keepAttrs(old, keep), keepAttrs(new, keep)
	Normalize(a)
	Normalize(b)
	return a, b
}

func diffPrepared(a, b *Listing) []Difference {
	var diffs []Difference
	i, j := 0, 0
	for i < len(a.Mailboxes) || j < len(b.Mailboxes) {
		switch {
		case i < len(a.Mailboxes) && i > 0 && a.Mailboxes[i].Name == a.Mailboxes[i-1].Name:
			m := a.Mailboxes[i]
			diffs = append(diffs, Difference{Kind: Duplicate, Name: m.Name, Old: &m})
			i++
		case j < len(b.Mailboxes) && j > 0 && b.Mailboxes[j].Name == b.Mailboxes[j-1].Name:
			m := b.Mailboxes[j]
			diffs = append(diffs, Difference{Kind: Duplicate, Name: m.Name, New: &m})
			j++
		case j >= len(b.Mailboxes) || (i < len(a.Mailboxes) && a.Mailboxes[i].Name < b.Mailboxes[j].Name):
			m := a.Mailboxes[i]
			diffs = append(diffs, Difference{Kind: OnlyOld, Name: m.Name, Old: &m})
			i++
		case i >= len(a.Mailboxes) || b.Mailboxes[j].Name < a.Mailboxes[i].Name:
			m := b.Mailboxes[j]
			diffs = append(diffs, Difference{Kind: OnlyNew, Name: m.Name, New: &m})
			j++
		default:
			x, y := a.Mailboxes[i], b.Mailboxes[j]
			if x.Delim != y.Delim {
				diffs = append(diffs, Difference{Kind: DelimDiff, Name: x.Name, Old: &x, New: &y})
			} else if !slices.Equal(x.Attrs, y.Attrs) {
				diffs = append(diffs, Difference{Kind: AttrsDiff, Name: x.Name, Old: &x, New: &y})
			}
			i++
			j++
		}
	}
	return diffs
}
