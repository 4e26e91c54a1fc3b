package convert

import (
	"strings"
	"testing"

	"github.com/murderkit/murderkit/mboxlist"
)

// TestConvertEntryLosses: what the target version cannot hold comes back as
// lines named after the entry; an entry whose type the target cannot store
// is not kept, and its last line says it is left out.
func TestConvertEntryLosses(t *testing.T) {
	e := entries(1)[0]
	e.UIDValidity = 42
	ce, lost, keep := ConvertEntry(mboxlist.V36, mboxlist.V24, &e)
	if !keep || ce.Name != e.Name || ce.UIDValidity != 0 {
		t.Fatalf("email entry to 2.4: keep %v, %+v", keep, ce)
	}
	if len(lost) == 0 || !strings.HasPrefix(lost[0], e.Name+": ") || !strings.Contains(strings.Join(lost, "\n"), "uidvalidity") {
		t.Fatalf("email entry to 2.4: lost %q", lost)
	}
	if _, lost, keep := ConvertEntry(mboxlist.V36, mboxlist.V36, &e); !keep || len(lost) != 0 {
		t.Fatalf("3.6 to 3.6: keep %v, lost %q", keep, lost)
	}
	cal, err := mboxlist.ParseType36("c")
	if err != nil {
		t.Fatal(err)
	}
	e.Type = cal
	_, lost, keep = ConvertEntry(mboxlist.V36, mboxlist.V24, &e)
	if keep || len(lost) < 2 || lost[len(lost)-1] != e.Name+": left out: Cyrus 2.4 cannot store its type" {
		t.Fatalf("calendar entry to 2.4: keep %v, lost %q", keep, lost)
	}
}
