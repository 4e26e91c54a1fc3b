package mboxlist

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConvertLosses(t *testing.T) {
	e := Entry{Name: "user.fred.#calendars", Type: TypeCalendar, UniqueID: "u", UIDValidity: 3, CreatedModseq: 4, FolderModseq: 5, Mtime: 6,
		LegacySpecialUse: "\\Sent", History: []HistoryItem{{Name: "user.fred.old"}}, Partition: "p"}
	fields := func(ls []Loss) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Field)
		}
		return out
	}
	want := map[Version][]string{
		V24: {"mbtype", "uniqueid", "uidvalidity", "mtime", "createdmodseq", "foldermodseq", "legacy_dirs", "history", "legacy_specialuse"},
		V25: {"createdmodseq", "foldermodseq", "legacy_dirs", "history", "legacy_specialuse"},
		V30: {"createdmodseq", "legacy_dirs", "history", "legacy_specialuse"},
		V34: {"legacy_dirs", "history", "legacy_specialuse"},
		V36: {"legacy_specialuse"},
	}
	for v, w := range want {
		if d := cmp.Diff(w, fields(Losses(v, &e))); d != "" {
			t.Errorf("%s:\n%s", v, d)
		}
	}
	up, ls := Convert(V30, V36, &Entry{Name: "user.a", Type: FlagRemote, Server: "b", Partition: "p"})
	if up.Type != FlagRemote|FlagLegacyDirs || len(ls) != 0 {
		t.Errorf("upgrade: %v %v", up.Type, ls)
	}
}
