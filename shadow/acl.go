package shadow

import (
	"github.com/murderkit/murderkit/mboxlist"
)

// DumpEntry is the part of a mailbox entry visibility depends on.
type DumpEntry struct {
	Name   string            // internal name
	MBType string            // 3.6 T-string: "e", "ei", "ed", "ez", "c", ...
	ACL    map[string]string // identifier ("-" prefix: negative) -> rights
}

// entry is the mboxlist.Entry of d, for the rules that live there; ok is
// false when MBType is empty or not a T-string Cyrus writes.
func (d DumpEntry) entry() (mboxlist.Entry, bool) {
	t, err := mboxlist.ParseType36(d.MBType)
	if d.MBType == "" || err != nil {
		return mboxlist.Entry{}, false
	}
	e := mboxlist.Entry{Name: d.Name, Type: t, ACL: make(mboxlist.ACL, 0, len(d.ACL))}
	for id, r := range d.ACL {
		e.ACL = append(e.ACL, mboxlist.ACLItem{ID: id, Rights: r})
	}
	return e, true
}

// VisibleTo returns the entries user may see with LIST "" "*", as Cyrus
// decides it: mboxlist.Entry.ListableBy for the identity
// mboxlist.NewIdentity(user, groups) (groups as names, "staff", or
// identifiers, "group:staff"). It is the answer the registry's reverse-ACL
// index gives, computed by scanning, for sites that check a
// `ctl_mboxlist -d` dump before a registry exists.
func VisibleTo(entries []DumpEntry, user string, groups []string) []VisibleMailbox {
	who := mboxlist.NewIdentity(user, groups)
	var out []VisibleMailbox
	for _, d := range entries {
		if e, ok := d.entry(); ok && e.ListableBy(who, nil) {
			out = append(out, VisibleMailbox{Name: d.Name})
		}
	}
	return out
}
