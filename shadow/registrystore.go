package shadow

import (
	"context"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// ownName is user's own INBOX without its domain ("user.LOCAL", a '.' in
// LOCAL stored as '^'; mboxlist.InboxName), "" for a userid Cyrus cannot
// have.
func ownName(user string) string {
	inbox, ok := mboxlist.InboxName(user)
	if !ok {
		return ""
	}
	_, rest := mboxlist.SplitDomain(inbox)
	return rest
}

// StoreVisible answers VisibleFunc from a registry.Store's reverse-ACL
// Visible answer (which, like Cyrus's LIST "" "*", never holds
// intermediate entries). groups maps a user to its group names.
func StoreVisible(st registry.Reader, groups map[string][]string) VisibleFunc {
	return func(ctx context.Context, user string) ([]VisibleMailbox, error) {
		names, err := st.Visible(ctx, user, groups[user])
		if err != nil {
			return nil, err
		}
		out := make([]VisibleMailbox, len(names))
		for i, n := range names {
			out[i] = VisibleMailbox{Name: n}
		}
		return out, nil
	}
}

// StoreOwners lists every user owning a mailbox in the registry
// (user.LOCAL entries, LOCAL@domain in a domain).
func StoreOwners(ctx context.Context, st registry.Reader) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	_, err := st.List(ctx, "", func(e registry.Entry) error {
		if u, ok := ownerOf(e.Name); ok && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// ownerOf returns the userid owning an internal name (user.LOCAL[.X],
// not a delayed-delete name): mboxlist's reading of the name.
func ownerOf(name string) (string, bool) {
	n := mboxlist.ParseIntName(name, nil)
	if !n.IsUser || n.Deleted != 0 {
		return "", false
	}
	return n.UserID(), true
}

// DumpOwners lists every user owning a mailbox in a dump, sorted.
func DumpOwners(entries []DumpEntry) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range entries {
		if x, ok := e.entry(); !ok || x.Type.Kind() != mboxlist.TypeEmail || x.Type&(mboxlist.FlagDeleted|mboxlist.FlagReserve) != 0 {
			continue
		}
		if u, ok := ownerOf(e.Name); ok && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}
