package shadow

import (
	"strings"
)

// DumpEntry is the part of a mailbox entry visibility depends on.
type DumpEntry struct {
	Name   string            // internal name
	MBType string            // 3.6 T-string: "e", "ei", "ed", "ez", "c", ...
	ACL    map[string]string // identifier ("-" prefix: negative) -> rights
}

// VisibleTo returns the entries user may see with LIST, as Cyrus decides
// it: email mailboxes only (T-string starting with 'e'), never tombstones
// ('d') or reserved entries ('z'); the user's own hierarchy unless a
// negative entry of the user, "anyone" or a group takes 'l' away; any
// other mailbox when the rights of
// the user, "anyone" and the given groups ("group:staff") include 'l' after
// negative entries ("-id") are taken away. It is the answer the registry's
// reverse-ACL index gives, computed by scanning, for sites that check a
// `ctl_mboxlist -d` dump before a registry exists.
func VisibleTo(entries []DumpEntry, user string, groups []string) []VisibleMailbox {
	_, domain := splitUser(user)
	_, self := splitDomain(ownName(user))
	ids := []string{user, "anyone"}
	for _, g := range groups {
		if !strings.HasPrefix(g, "group:") {
			g = "group:" + g
		}
		ids = append(ids, g)
	}
	var out []VisibleMailbox
	for _, e := range entries {
		if e.MBType == "" || e.MBType[0] != 'e' || strings.ContainsAny(e.MBType[1:], "dz") {
			continue
		}
		d, rest := splitDomain(e.Name)
		if d != domain {
			continue
		}
		inter := strings.ContainsRune(e.MBType[1:], 'i')
		own := rest == self || strings.HasPrefix(rest, self+".")
		if (own && !negLookup(e.ACL, ids)) || hasLookup(e.ACL, ids) {
			out = append(out, VisibleMailbox{Name: e.Name, Intermediate: inter})
		}
	}
	return out
}

// negLookup reports whether a negative entry of one of ids takes 'l' away:
// that hides even one of the user's own mailboxes (Cyrus 3.6.1 lists them
// only when cyrus_acl_myrights, which subtracts negative entries, gives
// 'l'; found by the twin murders, docs/twins.md).
func negLookup(acl map[string]string, ids []string) bool {
	for _, id := range ids {
		if strings.ContainsRune(acl["-"+id], 'l') {
			return true
		}
	}
	return false
}

func hasLookup(acl map[string]string, ids []string) bool {
	pos, neg := false, false
	for _, id := range ids {
		if strings.ContainsRune(acl[id], 'l') {
			pos = true
		}
		if strings.ContainsRune(acl["-"+id], 'l') {
			neg = true
		}
	}
	return pos && !neg
}
