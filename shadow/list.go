package shadow

import (
	"sort"
	"strings"
)

// Mailbox is one LIST response line, normalised (see Normalize).
type Mailbox struct {
	// Name as the server sent it on the wire: modified UTF-7, in the
	// user's namespace ("INBOX.Sent", "user.bob.top", "Shared Folders.x").
	Name  string   `json:"name"`
	Delim string   `json:"delim"` // "" for NIL
	Attrs []string `json:"attrs"` // canonical spelling, sorted
}

// Namespace is what NAMESPACE (RFC 2342) announced to the user; only the
// first descriptor of each class is used, as Cyrus announces one.
type Namespace struct {
	Personal  string `json:"personal"` // "INBOX." or "" (altnamespace)
	Other     string `json:"other"`    // "user." or "Other Users."
	Shared    string `json:"shared"`   // "" or "Shared Folders."
	Delim     string `json:"delim"`    // "." or "/" (unixhierarchysep)
	HasOther  bool   `json:"has_other"`
	HasShared bool   `json:"has_shared"`
}

// Listing is what one side showed one user.
type Listing struct {
	Mailboxes []Mailbox `json:"mailboxes"`
	// Extended is true when the list came from LIST-EXTENDED with RETURN
	// (SUBSCRIBED SPECIAL-USE CHILDREN), so \Subscribed and special-use
	// attributes are meaningful.
	Extended  bool       `json:"extended"`
	Namespace *Namespace `json:"namespace,omitempty"`
}

// Canonical attribute spellings (RFC 3501, 3348, 5258, 6154). Attribute names
// are case-insensitive on the wire.
var canonicalAttrs = map[string]string{}

func init() {
	for _, a := range []string{`\Noinferiors`, `\Noselect`, `\Marked`, `\Unmarked`,
		`\HasChildren`, `\HasNoChildren`, `\NonExistent`, `\Subscribed`, `\Remote`,
		`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`, `\Important`} {
		canonicalAttrs[strings.ToLower(a)] = a
	}
}

// cosmeticAttrs are dropped before comparing: \Marked and \Unmarked tell
// whether new mail arrived since the last SELECT, a property of the
// messages, not of the mailbox list (RFC 3501 §7.2.2 "MAY").
var cosmeticAttrs = map[string]bool{`\Marked`: true, `\Unmarked`: true}

// specialUseAttrs and \Subscribed live on backends; they are compared only
// between two IMAP sides that both ran LIST-EXTENDED.
var specialUseAttrs = map[string]bool{`\All`: true, `\Archive`: true, `\Drafts`: true,
	`\Flagged`: true, `\Junk`: true, `\Sent`: true, `\Trash`: true, `\Important`: true}

// structuralAttrs are the only attributes compared against the registry.
var structuralAttrs = map[string]bool{`\HasChildren`: true, `\HasNoChildren`: true,
	`\Noinferiors`: true, `\Noselect`: true, `\NonExistent`: true}

func canonicalAttr(a string) string {
	if c, ok := canonicalAttrs[strings.ToLower(a)]; ok {
		return c
	}
	return a
}

// Normalize applies every documented cosmetic normalisation (docs/shadow.md)
// and nothing else: attribute spelling and order, dropping \Marked and
// \Unmarked, and sorting the mailboxes by name (LIST order is not
// specified). Names are left byte-exact except that INBOX is matched
// case-insensitively (RFC 3501 §5.1), which the IMAP reader already did.
func Normalize(l *Listing) {
	for i := range l.Mailboxes {
		m := &l.Mailboxes[i]
		var attrs []string
		seen := map[string]bool{}
		for _, a := range m.Attrs {
			a = canonicalAttr(a)
			if cosmeticAttrs[a] || seen[a] {
				continue
			}
			seen[a] = true
			attrs = append(attrs, a)
		}
		sort.Strings(attrs)
		if attrs == nil {
			attrs = []string{}
		}
		m.Attrs = attrs
	}
	sort.Slice(l.Mailboxes, func(i, j int) bool { return l.Mailboxes[i].Name < l.Mailboxes[j].Name })
}

// keepAttrs returns a copy of l with only the attributes keep accepts.
func keepAttrs(l *Listing, keep func(string) bool) *Listing {
	out := &Listing{Extended: l.Extended, Namespace: l.Namespace, Mailboxes: make([]Mailbox, len(l.Mailboxes))}
	for i, m := range l.Mailboxes {
		attrs := []string{}
		for _, a := range m.Attrs {
			if keep(a) {
				attrs = append(attrs, a)
			}
		}
		out.Mailboxes[i] = Mailbox{Name: m.Name, Delim: m.Delim, Attrs: attrs}
	}
	return out
}
