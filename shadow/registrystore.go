package shadow

import (
	"context"
	"strings"

	"github.com/murderkit/murderkit/registry"
)

// ownName is the internal name of user's own INBOX: [domain!]user.LOCAL, a
// '.' in LOCAL stored as '^'.
func ownName(user string) string {
	local, domain := splitUser(user)
	n := "user." + strings.ReplaceAll(local, ".", "^")
	if domain != "" {
		n = domain + "!" + n
	}
	return n
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

// ownerOf returns the userid owning an internal name (user.LOCAL[.X]).
func ownerOf(name string) (string, bool) {
	domain, rest := splitDomain(name)
	if !strings.HasPrefix(rest, "user.") {
		return "", false
	}
	local, _, _ := strings.Cut(rest[len("user."):], ".")
	if local == "" {
		return "", false
	}
	local = strings.ReplaceAll(local, "^", ".")
	if domain != "" {
		return local + "@" + domain, true
	}
	return local, true
}

// DumpOwners lists every user owning a mailbox in a dump, sorted.
func DumpOwners(entries []DumpEntry) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range entries {
		if e.MBType == "" || e.MBType[0] != 'e' || strings.ContainsAny(e.MBType[1:], "dz") {
			continue
		}
		if u, ok := ownerOf(e.Name); ok && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}
