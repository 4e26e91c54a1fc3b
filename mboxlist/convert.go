package mboxlist

import (
	"fmt"
	"strings"
)

// Loss is one thing a conversion cannot keep.
type Loss struct {
	Field string // the Entry field or aspect: "uniqueid", "mbtype", ...
	What  string // for people
}

func (l Loss) String() string { return l.Field + ": " + l.What }

// Losses lists what writing e in version v's record format loses. Unlike
// Cyrus's own `ctl_cyrusdb -r` upgrade, conversions here keep remote types
// (a 2.x 1 is REMOTE, not NETNEWS), entries without a uniqueid and reserved
// entries: those are never losses. LEGACY_DIRS (`l`) is not a loss either:
// every pre-3.6 mailbox lays its files out by name.
func Losses(v Version, e *Entry) []Loss {
	var out []Loss
	add := func(field, format string, args ...any) {
		out = append(out, Loss{Field: field, What: fmt.Sprintf(format, args...)})
	}
	if v.ByID() {
		if _, err := e.Type.Format36(); err != nil {
			add("mbtype", "%v", err)
		} else if v == V36 && e.Type.Kind() == TypeJMAPNotify {
			add("mbtype", "Cyrus 3.6 has no JMAP notification type (j came with 3.8); it reads the mailbox as email")
		}
	} else if _, err := e.Type.LegacyNumber(v); err != nil {
		add("mbtype", "type %q has no Cyrus %s equivalent", e.Type.String(), v)
	}
	if v == V24 {
		if e.Has(FieldUniqueID) {
			add("uniqueid", "2.x values have no uniqueid")
		}
		if e.UIDValidity != 0 {
			add("uidvalidity", "2.x values have no uidvalidity")
		}
		if e.Mtime != 0 {
			add("mtime", "2.x values have no mtime")
		}
		for _, it := range e.ACL {
			if strings.ContainsAny(it.ID, "\t") || strings.ContainsAny(it.Rights, "\t") {
				add("acl", "identifier %q or its rights hold a TAB", it.ID)
			}
		}
		if strings.ContainsAny(e.Partition, " !") || strings.ContainsAny(e.Server, " !") {
			add("partition", "server or partition holds a space or '!'")
		}
	}
	if v < V32 && e.CreatedModseq != 0 {
		add("createdmodseq", "Cyrus %s does not store createdmodseq", v)
	}
	if v < V30 && e.FolderModseq != 0 {
		add("foldermodseq", "Cyrus %s does not store foldermodseq", v)
	}
	if !v.ByID() && !e.Type.Has(FlagLegacyDirs) && e.Server == "" && !e.Type.Has(FlagRemote) &&
		!e.Type.Has(FlagDeleted) && !e.Type.Has(FlagReserve) && !e.Type.Has(FlagIntermediate) && e.UniqueID != "" {
		add("legacy_dirs", "the mailbox's files are laid out by uniqueid (no `l` flag); Cyrus %s looks for them by name", v)
	}
	if len(e.History) > 0 && !v.ByID() {
		add("history", "Cyrus %s keeps no name history", v)
	}
	if len(e.History) > 0 && v.ByID() && e.UniqueID == "" {
		add("history", "the name history lives in the I record, which an entry without uniqueid does not get")
	}
	if e.Has(FieldSpecialUse) {
		add("legacy_specialuse", "mailboxes.db of Cyrus %s does not store it (Cyrus moves it to annotations)", v)
	}
	if e.Has(FieldJMAPID) {
		add("jmapid", "only Cyrus master stores J fields")
	}
	return out
}

// Convert returns e, read from a file of version from, as version v keeps
// it (the lost fields cleared) and the list of losses. The result encodes
// without error when no "mbtype" loss is reported. From a pre-3.6 version to
// 3.6 it adds the LEGACY_DIRS flag (`l`), as Cyrus's upgrade does: those
// mailboxes' files are laid out by name.
func Convert(from, v Version, e *Entry) (Entry, []Loss) {
	out := *e
	if !from.ByID() && v.ByID() {
		out.Type |= FlagLegacyDirs
	}
	out.ACL = append(ACL(nil), e.ACL...)
	if e.ACL != nil && out.ACL == nil {
		out.ACL = ACL{}
	}
	out.History = append([]HistoryItem(nil), e.History...)
	src := e
	if !from.ByID() && !e.Type.Has(FlagLegacyDirs) {
		// A pre-3.6 mailbox's files are laid out by name: the `l` of 3.6
		// is implied, so writing it for another pre-3.6 version loses
		// nothing.
		c := *e
		c.Type |= FlagLegacyDirs
		src = &c
	}
	losses := Losses(v, src)
	if v == V24 {
		out.UniqueID, out.UIDValidity, out.Mtime = "", 0, 0
		out.Empty &^= FieldUniqueID
		if out.ACL == nil {
			out.ACL = ACL{}
		}
	}
	if v < V32 {
		out.CreatedModseq = 0
	}
	if v < V30 {
		out.FolderModseq = 0
	}
	if !v.ByID() {
		out.History = nil
		out.Type &^= FlagLegacyDirs
	}
	if v.ByID() && out.UniqueID == "" {
		out.History = nil
	}
	if v == V36 && out.Type.Kind() == TypeJMAPNotify {
		out.Type = out.Type&^TypeMask | TypeEmail // what 3.6 reads `j` as
	}
	out.LegacySpecialUse = ""
	out.JMAPID = ""
	out.Empty &^= FieldSpecialUse | FieldJMAPID
	return out, losses
}
