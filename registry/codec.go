package registry

import (
	"encoding/json"
	"fmt"
	"strings"
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
	// Empty is mboxlist.Entry.Empty less the partition (kept per location
	// in EmptyLocs): string fields stored empty rather than absent.
	Empty uint8 `json:"e,omitempty"`
	// EmptyLocs has bit i set when Locs[i] has an empty partition ("host!"),
	// as opposed to none. Both are absent in what older versions wrote,
	// whose "host!" meant no partition.
	EmptyLocs uint64   `json:"el,omitempty"`
	_         struct{} `json:"-"`
}

type storedHistory struct {
	Name  string `json:"n"`
	Mtime int64  `json:"m,omitempty"`
	UIDV  uint32 `json:"v,omitempty"`
	CMS   uint64 `json:"c,omitempty"`
	FMS   uint64 `json:"f,omitempty"`
	Type  uint32 `json:"t,omitempty"`
	Part  string `json:"p,omitempty"`
	EP    bool   `json:"ep,omitempty"` // Part is present though empty
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
	locs := storedLocations(e)
	for i, l := range locs {
		s.Locs = append(s.Locs, encodeLoc(l))
		if l.Partition == "" && l.EmptyPartition {
			s.EmptyLocs |= 1 << uint(i)
		}
	}
	s.Empty = uint8(e.Empty &^ mboxlist.FieldPartition)
	if e.ACL == nil {
		s.NoACL = true
	}
	for _, it := range e.ACL {
		s.ACL = append(s.ACL, [2]string{it.ID, it.Rights})
	}
	for _, h := range e.History {
		s.Hist = append(s.Hist, storedHistory{Name: h.Name, Mtime: h.Mtime, UIDV: h.UIDValidity,
			CMS: h.CreatedModseq, FMS: h.FolderModseq, Type: uint32(h.Type), Part: h.Partition,
			EP: h.Partition == "" && h.EmptyPartition})
	}
	b, err := json.Marshal(&s)
	if err != nil {
		panic("registry: encoding an entry cannot fail: " + err.Error())
	}
	return b
}

// storedLocations are the locations an entry is stored with: Locations, or
// the one that Server and Partition give when it has none. More than 64
// locations cannot be stored (the empty-partition bits would not fit): no
// mailbox has that many, and Put refuses it before it gets here.
func storedLocations(e *Entry) []Location {
	if len(e.Locations) == 0 && (e.Server != "" || e.Has(mboxlist.FieldPartition)) {
		return []Location{e.Primary()}
	}
	return e.Locations
}

// encodeLoc keeps server and partition apart exactly (a '!' inside either
// is impossible for Cyrus, but the stored form must not depend on it).
func encodeLoc(l Location) string {
	return l.Server + "!" + l.Partition
}

// decodeLoc is encodeLoc's inverse: the text before the first '!' is the
// server. The empty-partition flag is stored apart.
func decodeLoc(s string) Location {
	if i := strings.IndexByte(s, '!'); i >= 0 {
		return Location{Server: s[:i], Partition: s[i+1:]}
	}
	return Location{Server: s}
}

// DecodeEntry parses either stored form (JSON, or the compact one of
// AppendEntryBinary); where names the key for the error.
func DecodeEntry(b []byte, where string) (Entry, error) {
	if len(b) > 0 && (b[0] == binEntryV1 || b[0] == binEntryV2) {
		return decodeEntryBinary(b, where)
	}
	if IsEntryKeyed(b) {
		// Without its key: only a value that kept its name reads here.
		return decodeEntryKeyed(b, "", false, where)
	}
	var s storedEntry
	if err := json.Unmarshal(b, &s); err != nil {
		return Entry{}, fmt.Errorf("registry: corrupt entry at %s: %w", where, err)
	}
	e := Entry{Revision: s.Rev}
	e.Name, e.Type, e.UniqueID, e.UIDValidity = s.Name, mboxlist.MBType(s.Type), s.UID, s.UIDV
	e.CreatedModseq, e.FolderModseq, e.Mtime, e.LegacySpecialUse = s.CMS, s.FMS, s.Mtime, s.SpUse
	for i, l := range s.Locs {
		loc := decodeLoc(l)
		loc.EmptyPartition = loc.Partition == "" && i < 64 && s.EmptyLocs&(1<<uint(i)) != 0
		e.Locations = append(e.Locations, loc)
	}
	e.Empty = mboxlist.Fields(s.Empty) &^ mboxlist.FieldPartition
	if !s.NoACL {
		e.ACL = mboxlist.ACL{}
		for _, it := range s.ACL {
			e.ACL = append(e.ACL, mboxlist.ACLItem{ID: it[0], Rights: it[1]})
		}
	}
	for _, h := range s.Hist {
		e.History = append(e.History, mboxlist.HistoryItem{Name: h.Name, Mtime: h.Mtime, UIDValidity: h.UIDV,
			CreatedModseq: h.CMS, FolderModseq: h.FMS, Type: mboxlist.MBType(h.Type), Partition: h.Part,
			EmptyPartition: h.EP && h.Part == ""})
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
		s.Locations = append(s.Locations, decodeLoc(l))
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
	if len(e.Locations) > MaxLocations {
		return fmt.Errorf("mailbox %q: %d locations, at most %d: %w", e.Name, len(e.Locations), MaxLocations, ErrInvalid)
	}
	e.Normalize()
	return nil
}

// MaxLocations is how many locations an entry may have (the stored form
// keeps a bit per location).
const MaxLocations = 64

// TombstoneBlocks reports whether tombstone t refuses a create/put of e
// (docs/contracts.md, "Registry"): e carries a non-zero Revision older than the
// deletion, i.e. it is a replay of a state read before the delete. (A
// matching uniqueid alone does not block: renaming a mailbox away and back
// legitimately reuses it.)
func TombstoneBlocks(t *Tombstone, e *Entry) bool {
	return e.Revision != 0 && e.Revision < t.Revision
}
