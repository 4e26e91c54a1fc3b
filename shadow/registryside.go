package shadow

import (
	"sort"
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
)

// VisibleMailbox is one mailbox the registry says a user may see: its
// internal name as `ctl_mboxlist -d` spells it ("user.fred.Sent",
// "example.com!user.jane", modified UTF-7, '^' for a literal dot) and
// whether it is an intermediate placeholder (3.6 mbtype flag 'i').
type VisibleMailbox struct {
	Name         string
	Intermediate bool
}

// externalPart turns the internal form of name components (separator '.',
// '^' for a literal dot) into the external form for delimiter delim.
func externalPart(internal string, delim string) string {
	if delim != "/" {
		return internal
	}
	b := []byte(internal)
	for i, c := range b {
		switch c {
		case '.':
			b[i] = '/'
		case '^':
			b[i] = '.'
		}
	}
	return string(b)
}

// RegistryList computes what Cyrus 3.6's LIST "" "*" shows user, given the
// mailboxes visible to the user (own hierarchy and everything granting the
// lookup right) and the namespace the frontend announces. The rules, each
// checked against real Cyrus 3.6.1 imapd in this package's tests:
//
//   - only mailboxes of the user's domain (none for a user without one),
//     shown without the domain; DELETED.* and intermediate entries never
//     appear with "*" (not even as \Noselect placeholders: Cyrus shows those
//     only for '%' patterns);
//   - user.<self> is INBOX, user.<self>.X is Personal+X (INBOX.X, or X under
//     altnamespace); user.<other>.X is Other+<other>.X; anything else is
//     Shared+name;
//   - the delimiter is the namespace's; with '/' (unixhierarchysep) internal
//     '.' becomes '/' and '^' becomes '.';
//   - \HasChildren when some visible, non-intermediate mailbox lies below
//     (at any depth), else \HasNoChildren; under altnamespace INBOX is
//     always \HasNoChildren (its children are listed at the top level).
func RegistryList(user string, ns Namespace, visible []VisibleMailbox) *Listing {
	_, domain := mboxlist.SplitUserID(user)
	self := ownName(user)
	names := make([]string, 0, len(visible))
	seen := map[string]bool{}
	for _, v := range visible {
		if v.Intermediate {
			continue
		}
		d, rest := mboxlist.SplitDomain(v.Name)
		if d != domain || rest == "" || mboxlist.IsDeletedName(v.Name, nil) {
			continue
		}
		if seen[rest] {
			continue
		}
		seen[rest] = true
		names = append(names, rest)
	}
	sort.Strings(names)
	hasDesc := map[string]bool{}
	for _, n := range names {
		for i := len(n) - 1; i > 0; i-- {
			if n[i] == '.' {
				p := n[:i]
				if hasDesc[p] {
					break
				}
				hasDesc[p] = true
			}
		}
	}
	l := &Listing{Namespace: &ns, Mailboxes: make([]Mailbox, 0, len(names))}
	for _, n := range names {
		var ext string
		children := hasDesc[n]
		switch {
		case n == self:
			ext = "INBOX"
			if ns.Personal == "" {
				children = false
			}
		case strings.HasPrefix(n, self+"."):
			ext = ns.Personal + externalPart(n[len(self)+1:], ns.Delim)
		case strings.HasPrefix(n, "user."):
			ext = ns.Other + externalPart(n[len("user."):], ns.Delim)
		default:
			ext = ns.Shared + externalPart(n, ns.Delim)
		}
		attr := `\HasNoChildren`
		if children {
			attr = `\HasChildren`
		}
		l.Mailboxes = append(l.Mailboxes, Mailbox{Name: ext, Delim: ns.Delim, Attrs: []string{attr}})
	}
	Normalize(l)
	return l
}
