package mboxlist

import (
	"strings"
	"testing"
)

// 3.12 counts 0x1F as a control character (imparse_isnatom): the dbnames in
// an I record, its own N and each history N, are quoted strings; 3.6 and
// 3.10 write them as bare atoms. The N record has no dbname inside and is
// the same for every 3.6-and-later version. (Checked against the real
// releases' files by cmd/mboxconv's TestReleaseConvert.)
func TestEncodeRecordsQuotesDBNamesFor312(t *testing.T) {
	e := Entry{
		Name: "user.john^doe.Mail", Type: TypeEmail, Partition: "default", UniqueID: "u1",
		UIDValidity: 7, Mtime: 9, ACL: ACL{{ID: "john.doe", Rights: "lrs"}},
		History: []HistoryItem{{Name: "user.john^doe.Old", Mtime: 8, UIDValidity: 7, Type: TypeEmail | FlagDeleted}},
	}
	values := map[Version]map[byte]string{}
	for _, v := range []Version{V36, V310, V312} {
		recs, err := EncodeRecords(v, &e, nil)
		if err != nil {
			t.Fatal(err)
		}
		values[v] = map[byte]string{}
		for _, r := range recs {
			values[v][r.Key[0]] = string(r.Value)
		}
	}
	bare := "N user\x1fjohn.doe\x1fMail "
	quoted := "N \"user\x1fjohn.doe\x1fMail\" "
	for _, v := range []Version{V36, V310} {
		if i := values[v][KeyID]; !strings.Contains(i, bare) || !strings.Contains(i, "%(N user\x1fjohn.doe\x1fOld ") {
			t.Errorf("%v I record %q: want bare dbnames", v, i)
		}
	}
	i312 := values[V312][KeyID]
	if !strings.Contains(i312, quoted) || !strings.Contains(i312, "%(N \"user\x1fjohn.doe\x1fOld\" ") {
		t.Errorf("3.12 I record %q: want quoted dbnames", i312)
	}
	if strings.ReplaceAll(i312, "\"", "") != values[V36][KeyID] {
		t.Errorf("3.12 I record differs from 3.6's beyond the quotes:\n%q\n%q", i312, values[V36][KeyID])
	}
	if values[V312][KeyName] != values[V36][KeyName] || values[V310][KeyName] != values[V36][KeyName] {
		t.Errorf("N records differ: %q %q %q", values[V36][KeyName], values[V310][KeyName], values[V312][KeyName])
	}
	// the reader takes both spellings back to the same entry
	for _, v := range []Version{V36, V312} {
		got, err := DecodeIValue("u1", []byte(values[v][KeyID]), nil)
		if err != nil || got.Name != e.Name || len(got.History) != 1 || got.History[0].Name != e.History[0].Name {
			t.Errorf("%v I record read back as %+v, %v", v, got, err)
		}
	}
}

// A mailbox read from a pre-3.6 file lays its files out by name (3.6's `l`
// is implied): writing it for a pre-3.6 version loses nothing. A 3.6
// mailbox without `l` (files by uniqueid) still reports the loss.
func TestConvertPre36ImpliesLegacyDirs(t *testing.T) {
	e := Entry{Name: "user.a", Type: TypeEmail, Partition: "default", UniqueID: "u1", ACL: ACL{}}
	for _, from := range []Version{V25, V30, V32, V34} {
		for _, to := range []Version{V25, V30, V32, V34} {
			out, losses := Convert(from, to, &e)
			for _, l := range losses {
				if l.Field == "legacy_dirs" {
					t.Errorf("Convert(%v → %v) reports %v", from, to, l)
				}
			}
			if out.Type.Has(FlagLegacyDirs) {
				t.Errorf("Convert(%v → %v) wrote the l flag into a pre-3.6 value", from, to)
			}
		}
	}
	_, losses := Convert(V36, V32, &e)
	found := false
	for _, l := range losses {
		found = found || l.Field == "legacy_dirs"
	}
	if !found {
		t.Errorf("Convert(3.6 → 3.2) of a mailbox without l: losses %v, want legacy_dirs", losses)
	}
}

// The JMAP notification type `j` came with 3.8: 3.10 and 3.12 write it,
// 3.6 has no letter for it (3.6.1 reads `j` as an email mailbox), so
// writing it for 3.6 is an mbtype loss and --lossy writes what 3.6 reads.
func TestConvertJMAPNotifyNeeds38(t *testing.T) {
	e := Entry{Name: "user.a.#jmapnotify", Type: TypeJMAPNotify, Partition: "default", UniqueID: "u1", ACL: ACL{}}
	for _, v := range []Version{V310, V312} {
		out, losses := Convert(V312, v, &e)
		if len(losses) != 0 || out.Type != TypeJMAPNotify {
			t.Errorf("Convert to %v: %+v, losses %v", v, out.Type, losses)
		}
	}
	out, losses := Convert(V312, V36, &e)
	if len(losses) != 1 || losses[0].Field != "mbtype" || out.Type != TypeEmail {
		t.Errorf("Convert to 3.6: type %v, losses %v; want an mbtype loss and e", out.Type, losses)
	}
}
