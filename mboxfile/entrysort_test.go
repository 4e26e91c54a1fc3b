package mboxfile

import (
	"errors"
	"reflect"
	"testing"

	"github.com/murderkit/murderkit/mboxlist"
)

// The run form of an entry gives back an equal entry, every field
// included (nil and empty ACL and history, Empty bits, JMAPID, a negative
// mtime); a cut or lengthened record is an error, never a wrong entry.
func TestSortEntryRoundTrip(t *testing.T) {
	es := manyEntries(300) // histories, tombstones sharing a uniqueid
	x := mboxlist.Entry{Name: "user.x", Type: mboxlist.TypeCalendar | mboxlist.FlagLegacyDirs, Server: "",
		ACL: mboxlist.ACL{}, History: []mboxlist.HistoryItem{}, JMAPID: "J1", Mtime: -5, UIDValidity: 1<<32 - 1,
		CreatedModseq: 1<<64 - 1, LegacySpecialUse: "\\Sent"}
	x.SetPresent(mboxlist.FieldServer, true)
	x.SetPresent(mboxlist.FieldUniqueID, true)
	y := mboxlist.Entry{Name: "DELETED.user.y.5F00", Type: mboxlist.TypeEmail, Server: "be1"} // location "be1!"
	y.SetPresent(mboxlist.FieldPartition, true)
	es = append(es, x, y, mboxlist.Entry{})
	for _, e := range es {
		b := appendSortEntry(nil, &e)
		var got mboxlist.Entry
		if err := decodeSortEntry(b, &got); err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("%q: got %+v, %v; want %+v", e.Name, got, err, e)
		}
		for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte{}, b...), 0)} {
			if err := decodeSortEntry(bad, &got); !errors.Is(err, errSortRecord) {
				t.Fatalf("%q: a record of %d bytes (of %d) decoded: %v", e.Name, len(bad), len(b), err)
			}
		}
	}
}
