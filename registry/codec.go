package registry

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
)

// The stored form of entries, tombstones and slots: JSON with short, stable
// field names (part of the on-disk/etcd format; do not rename). Encoding is
// deterministic, so equal content gives equal bytes (Import relies on it).
type storedEntry struct {
	Name  string            `json:"n"`
	Type  uint32            `json:"t,omitempty"`
	Locs  []string          `json:"l,omitempty"`
	ACL   [][2]string       `json:"a,omitempty"`
	NoACL bool              `json:"na,omitempty"` // ACL nil (no A field) as opposed to empty
	UID   string            `json:"u,omitempty"`
	UIDV  uint32            `json:"v,omitempty"`
	CMS   uint64            `json:"c,omitempty"`
	FMS   uint64            `json:"f,omitempty"`
	Mtime int64             `json:"m,omitempty"`
	SpUse string            `json:"s,omitempty"`
	Hist  []storedHistory   `json:"h,omitempty"`
	Rev   int64             `json:"r,omitempty"`
	Extra map[string]string `json:"x,omitempty"` // reserved for later fields
	_     struct{}          `json:"-"`
}

type storedHistory struct {
	Name  string `json:"n"`
	Mtime int64  `json:"m,omitempty"`
	UIDV  uint32 `json:"v,omitempty"`
	CMS   uint64 `json:"c,omitempty"`
	FMS   uint64 `json:"f,omitempty"`
	Type  uint32 `json:"t,omitempty"`
	Part  string `json:"p,omitempty"`
}

// EncodeEntry returns the stored form of e. withRev false leaves the
// revision out (etcd keeps it as the key's ModRevision).
func EncodeEntry(e *Entry, withRev bool) []byte {
	s := storedEntry{
		Name: e.Name, Type: uint32(e.Type), UID: e.UniqueID, UIDV: e.UIDValidity,
		CMS: e.CreatedModseq, FMS: e.FolderModseq, Mtime: e.Mtime, SpUse: e.LegacySpecialUse,
	}
	if withRev {
		s.Rev = e.Revision
	}
	locs := e.Locations
	if len(locs) == 0 && (e.Server != "" || e.Partition != "") {
		locs = []Location{{Server: e.Server, Partition: e.Partition}}
	}
	for _, l := range locs {
		s.Locs = append(s.Locs, encodeLoc(l))
	}
	if e.ACL == nil {
		s.NoACL = true
	}
	for _, it := range e.ACL {
		s.ACL = append(s.ACL, [2]string{it.ID, it.Rights})
	}
	for _, h := range e.History {
		s.Hist = append(s.Hist, storedHistory{Name: h.Name, Mtime: h.Mtime, UIDV: h.UIDValidity,
			CMS: h.CreatedModseq, FMS: h.FolderModseq, Type: uint32(h.Type), Part: h.Partition})
	}
	b, err := json.Marshal(&s)
	if err != nil {
		panic("registry: encoding an entry cannot fail: " + err.Error())
	}
	return b
}

// encodeLoc keeps server and partition apart exactly (a '!' inside either
// is impossible for Cyrus, but the stored form must not depend on it).
func encodeLoc(l Location) string {
	return l.Server + "!" + l.Partition
}

// DecodeEntry parses either stored form (JSON, or the compact one of
// AppendEntryBinary); where names the key for the error.
func DecodeEntry(b []byte, where string) (Entry, error) {
	if len(b) > 0 && b[0] == binEntryV1 {
		return decodeEntryBinary(b, where)
	}
	var s storedEntry
	if err := json.Unmarshal(b, &s); err != nil {
		return Entry{}, fmt.Errorf("registry: corrupt entry at %s: %w", where, err)
	}
	e := Entry{Revision: s.Rev}
	e.Name, e.Type, e.UniqueID, e.UIDValidity = s.Name, mboxlist.MBType(s.Type), s.UID, s.UIDV
	e.CreatedModseq, e.FolderModseq, e.Mtime, e.LegacySpecialUse = s.CMS, s.FMS, s.Mtime, s.SpUse
	for _, l := range s.Locs {
		e.Locations = append(e.Locations, ParseLocation(l))
	}
	if !s.NoACL {
		e.ACL = mboxlist.ACL{}
		for _, it := range s.ACL {
			e.ACL = append(e.ACL, mboxlist.ACLItem{ID: it[0], Rights: it[1]})
		}
	}
	for _, h := range s.Hist {
		e.History = append(e.History, mboxlist.HistoryItem{Name: h.Name, Mtime: h.Mtime, UIDValidity: h.UIDV,
			CreatedModseq: h.CMS, FolderModseq: h.FMS, Type: mboxlist.MBType(h.Type), Partition: h.Part})
	}
	e.Normalize()
	return e, nil
}

type storedTomb struct {
	Name string `json:"n"`
	UID  string `json:"u,omitempty"`
	UIDV uint32 `json:"v,omitempty"`
	Rev  int64  `json:"r,omitempty"`
	Time int64  `json:"ts"` // unix nanoseconds
}

// EncodeTombstone returns the stored form of t.
func EncodeTombstone(t *Tombstone, withRev bool) []byte {
	s := storedTomb{Name: t.Name, UID: t.UniqueID, UIDV: t.UIDValidity, Time: t.Time.UnixNano()}
	if withRev {
		s.Rev = t.Revision
	}
	b, _ := json.Marshal(&s)
	return b
}

// DecodeTombstone parses the stored form.
func DecodeTombstone(b []byte, where string) (Tombstone, error) {
	var s storedTomb
	if err := json.Unmarshal(b, &s); err != nil {
		return Tombstone{}, fmt.Errorf("registry: corrupt tombstone at %s: %w", where, err)
	}
	return Tombstone{Name: s.Name, UniqueID: s.UID, UIDValidity: s.UIDV, Revision: s.Rev, Time: time.Unix(0, s.Time).UTC()}, nil
}

type storedSlot struct {
	Name    string       `json:"n"`
	Locs    []string     `json:"l,omitempty"`
	State   string       `json:"s"`
	History []storedTran `json:"h,omitempty"`
	Rev     int64        `json:"r,omitempty"`
}

type storedTran struct {
	From string `json:"f"`
	To   string `json:"t"`
	Time int64  `json:"ts"`
	By   string `json:"b,omitempty"`
	Note string `json:"n,omitempty"`
}

// EncodeSlot returns the stored form of s.
func EncodeSlot(s *Slot, withRev bool) []byte {
	st := storedSlot{Name: s.Name, State: string(s.State)}
	if withRev {
		st.Rev = s.Revision
	}
	for _, l := range s.Locations {
		st.Locs = append(st.Locs, encodeLoc(l))
	}
	for _, t := range s.History {
		st.History = append(st.History, storedTran{From: string(t.From), To: string(t.To), Time: t.Time.UnixNano(), By: t.By, Note: t.Note})
	}
	b, _ := json.Marshal(&st)
	return b
}

// DecodeSlot parses the stored form.
func DecodeSlot(b []byte, where string) (Slot, error) {
	var st storedSlot
	if err := json.Unmarshal(b, &st); err != nil {
		return Slot{}, fmt.Errorf("registry: corrupt slot at %s: %w", where, err)
	}
	s := Slot{Name: st.Name, State: SlotState(st.State), Revision: st.Rev}
	for _, l := range st.Locs {
		s.Locations = append(s.Locations, ParseLocation(l))
	}
	for _, t := range st.History {
		s.History = append(s.History, SlotTransition{From: SlotState(t.From), To: SlotState(t.To), Time: time.Unix(0, t.Time).UTC(), By: t.By, Note: t.Note})
	}
	return s, nil
}

// Prepare validates e and normalises its locations before a write.
func Prepare(e *Entry) error {
	if err := ValidateName(e.Name); err != nil {
		return err
	}
	e.Normalize()
	return nil
}

// TombstoneBlocks reports whether tombstone t refuses a create/put of e
// (design.md "Tombstones"): e carries a non-zero Revision older than the
// deletion, i.e. it is a replay of a state read before the delete. (A
// matching uniqueid alone does not block: renaming a mailbox away and back
// legitimately reuses it.)
func TombstoneBlocks(t *Tombstone, e *Entry) bool {
	return e.Revision != 0 && e.Revision < t.Revision
}
