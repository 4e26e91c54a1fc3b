package mboxlist

import (
	"fmt"
	"strconv"
	"strings"
)

// ValueFormat is the shape a stored value had.
type ValueFormat int

const (
	Format2x    ValueFormat = iota + 1 // `type partition acl` (2.0–2.4, read by every later version)
	FormatDlist                        // dlist kvlist (2.5 onwards)
)

func (f ValueFormat) String() string {
	switch f {
	case Format2x:
		return "2.x"
	case FormatDlist:
		return "dlist"
	}
	return "ValueFormat(" + strconv.Itoa(int(f)) + ")"
}

func verr(pos int, sentinel error, format string, args ...any) *ValueError {
	return &ValueError{Pos: pos, What: fmt.Sprintf(format, args...), Err: sentinel}
}

// ---- decoding ----

type dlistMode int

const (
	modeLegacy dlistMode = iota // 2.5–3.4 value keyed by internal name
	modeN                       // 3.6 N record
	modeI                       // 3.6 I record
)

func parseUintField(n *dnode, bits int) (uint64, *ValueError) {
	if n.kind != dString {
		return 0, verr(n.pos, ErrSyntax, "field %s: want a number", n.key)
	}
	if n.val == "" {
		return 0, verr(n.pos, ErrSyntax, "field %s: empty number", n.key)
	}
	for i := 0; i < len(n.val); i++ {
		if n.val[i] < '0' || n.val[i] > '9' {
			return 0, verr(n.pos+i, ErrSyntax, "field %s: %q is not a decimal number", n.key, n.val)
		}
	}
	v, err := strconv.ParseUint(n.val, 10, bits)
	if err != nil {
		return 0, verr(n.pos, ErrRange, "field %s: %s does not fit in %d bits", n.key, n.val, bits)
	}
	return v, nil
}

func stringField(n *dnode) (string, *ValueError) {
	switch n.kind {
	case dString:
		return n.val, nil
	case dNil:
		return "", nil
	}
	return "", verr(n.pos, ErrSyntax, "field %s: want a string, got a list", n.key)
}

// emptyString reports a string field stored as "" (not NIL, not absent).
func emptyString(n *dnode) bool { return n.kind == dString && n.val == "" }

func parseACLNode(n *dnode) (ACL, *ValueError) {
	if n.kind != dKVList {
		return nil, verr(n.pos, ErrSyntax, "field A: want a kvlist %%(...)")
	}
	a := make(ACL, 0, len(n.kids))
	for i := range n.kids {
		k := &n.kids[i]
		if k.kind != dString {
			return nil, verr(k.pos, ErrSyntax, "ACL rights of %q: want a string", k.key)
		}
		a = append(a, ACLItem{ID: k.key, Rights: k.val})
	}
	return a, nil
}

func parseTypeField(n *dnode, legacy bool) (MBType, *ValueError) {
	var s string
	switch n.kind {
	case dString:
		s = n.val
	case dNil:
		return 0, nil
	default:
		return 0, verr(n.pos, ErrSyntax, "field T: want a string")
	}
	var t MBType
	var err error
	if legacy {
		t, err = ParseLegacyLetters(s)
	} else {
		t, err = ParseType36(s)
	}
	if err != nil {
		pos := n.pos
		if te, ok := err.(*typeError); ok {
			pos += te.pos
		}
		return 0, verr(pos, ErrUnknown, "field T: %v", err)
	}
	return t, nil
}

// entryFromDlist fills e from a parsed top-level kvlist.
func entryFromDlist(root *dnode, mode dlistMode, e *Entry, c *NameConfig) *ValueError {
	if root.kind != dKVList {
		return verr(root.pos, ErrSyntax, "value is not a kvlist")
	}
	allowed := "TIPSVCFMAHNJ"
	if mode == modeLegacy {
		allowed = "AIPSTVCFM"
	}
	var seen [256]bool
	for i := range root.kids {
		k := &root.kids[i]
		if len(k.key) != 1 || !strings.Contains(allowed, k.key) {
			return verr(k.keyPos, ErrUnknown, "field %q", k.key)
		}
		if seen[k.key[0]] {
			return verr(k.keyPos, ErrSyntax, "field %s twice", k.key)
		}
		seen[k.key[0]] = true
		var ve *ValueError
		switch k.key[0] {
		case 'T':
			e.Type, ve = parseTypeField(k, mode == modeLegacy)
		case 'I':
			e.UniqueID, ve = stringField(k)
			e.SetPresent(FieldUniqueID, emptyString(k))
		case 'N':
			var db string
			db, ve = stringField(k)
			if ve == nil && mode == modeI {
				e.Name = IntNameFromDB(db, c)
			}
		case 'P':
			e.Partition, ve = stringField(k)
			e.SetPresent(FieldPartition, emptyString(k))
		case 'S':
			e.Server, ve = stringField(k)
			e.SetPresent(FieldServer, emptyString(k))
		case 'J':
			e.JMAPID, ve = stringField(k)
			e.SetPresent(FieldJMAPID, emptyString(k))
		case 'V':
			var v uint64
			v, ve = parseUintField(k, 32)
			e.UIDValidity = uint32(v)
		case 'C':
			e.CreatedModseq, ve = parseUintField(k, 64)
		case 'F':
			e.FolderModseq, ve = parseUintField(k, 64)
		case 'M':
			var v uint64
			v, ve = parseUintField(k, 63)
			e.Mtime = int64(v)
		case 'A':
			e.ACL, ve = parseACLNode(k)
		case 'H':
			e.History, ve = parseHistory(k, c)
		}
		if ve != nil {
			return ve
		}
	}
	return nil
}

func parseHistory(n *dnode, c *NameConfig) ([]HistoryItem, *ValueError) {
	if n.kind != dList {
		return nil, verr(n.pos, ErrSyntax, "field H: want a list")
	}
	var h []HistoryItem
	for i := range n.kids {
		it := &n.kids[i]
		if it.kind != dKVList {
			return nil, verr(it.pos, ErrSyntax, "history item: want a kvlist")
		}
		var hi HistoryItem
		var seen [256]bool
		for j := range it.kids {
			k := &it.kids[j]
			if len(k.key) != 1 || !strings.Contains("NMVCFTP", k.key) {
				return nil, verr(k.keyPos, ErrUnknown, "history field %q", k.key)
			}
			if seen[k.key[0]] {
				return nil, verr(k.keyPos, ErrSyntax, "history field %s twice", k.key)
			}
			seen[k.key[0]] = true
			var ve *ValueError
			switch k.key[0] {
			case 'N':
				var db string
				db, ve = stringField(k)
				hi.Name = IntNameFromDB(db, c)
			case 'M':
				var v uint64
				v, ve = parseUintField(k, 63)
				hi.Mtime = int64(v)
			case 'V':
				var v uint64
				v, ve = parseUintField(k, 32)
				hi.UIDValidity = uint32(v)
			case 'C':
				hi.CreatedModseq, ve = parseUintField(k, 64)
			case 'F':
				hi.FolderModseq, ve = parseUintField(k, 64)
			case 'T':
				hi.Type, ve = parseTypeField(k, false)
			case 'P':
				hi.Partition, ve = stringField(k)
				hi.EmptyPartition = emptyString(k)
			}
			if ve != nil {
				return nil, ve
			}
		}
		h = append(h, hi)
	}
	return h, nil
}

// decode2x reads a `[(uniqueid U specialuse S) ]type partition acl` value.
// Numeric types are in the 2.x–3.4 numbering.
func decode2x(v []byte, e *Entry) *ValueError {
	p := 0
	if len(v) > 0 && v[0] == '(' {
		p = 1
		for {
			ks := p
			for p < len(v) && v[p] != ' ' && v[p] != ')' {
				p++
			}
			if p >= len(v) || v[p] != ' ' {
				return verr(ks, ErrSyntax, "extended entry prefix: key without value")
			}
			key := string(v[ks:p])
			p++
			vs := p
			for p < len(v) && v[p] != ' ' && v[p] != ')' {
				p++
			}
			if p >= len(v) {
				return verr(vs, ErrSyntax, "extended entry prefix: missing ')'")
			}
			val := string(v[vs:p])
			switch key {
			case "uniqueid":
				e.UniqueID = val
			case "specialuse":
				e.LegacySpecialUse = val
			}
			if v[p] == ')' {
				p++
				break
			}
			p++
		}
		if p >= len(v) || v[p] != ' ' {
			return verr(p, ErrSyntax, "extended entry prefix not followed by a space")
		}
		p++
	}
	ts := p
	for p < len(v) && v[p] >= '0' && v[p] <= '9' {
		p++
	}
	if p == ts {
		return verr(ts, ErrSyntax, "mailbox type is not a decimal number")
	}
	n, err := strconv.ParseUint(string(v[ts:p]), 10, 32)
	if err != nil {
		return verr(ts, ErrRange, "mailbox type %s out of range", v[ts:p])
	}
	t, err := FromLegacyNumber(uint32(n))
	if err != nil {
		return verr(ts, ErrUnknown, "%v", err)
	}
	e.Type = t
	if p >= len(v) || v[p] != ' ' {
		return verr(p, ErrSyntax, "mailbox type not followed by a space")
	}
	p++
	ps := p
	for p < len(v) && v[p] != ' ' && v[p] != '!' {
		p++
	}
	if p < len(v) && v[p] == '!' {
		e.Server = string(v[ps:p])
		e.SetPresent(FieldServer, e.Server == "")
		p++
		ps = p
		for p < len(v) && v[p] != ' ' {
			p++
		}
	}
	e.Partition = string(v[ps:p])
	// The 2.x form always has a partition field (Cyrus reads it into a
	// string, never NULL): an empty one, as in "1 host! acl", is present.
	e.SetPresent(FieldPartition, e.Partition == "")
	if p < len(v) {
		p++
	}
	acl, err := ParseACLTab(string(v[p:]))
	if err != nil {
		return verr(p, ErrSyntax, "%v", err)
	}
	e.ACL = acl
	return nil
}

// DecodeValue decodes one value keyed by a mailbox name: a 2.x or 2.5–3.4
// value (v before 3.6), or a 3.6 N-record value. intname is the mailbox's
// internal name (for 3.6, IntNameFromDB of the key without its `N`).
func DecodeValue(v Version, intname string, value []byte, c *NameConfig) (Entry, ValueFormat, error) {
	e := Entry{Name: intname}
	if len(value) == 0 {
		return e, 0, verr(0, ErrSyntax, "empty value")
	}
	if value[0] != '%' {
		if ve := decode2x(value, &e); ve != nil {
			return e, Format2x, ve
		}
		return e, Format2x, nil
	}
	mode := modeN
	if !v.ByID() {
		mode = modeLegacy
	}
	if ve := scanEntry(value, mode, &e, c); ve != nil {
		return e, FormatDlist, ve
	}
	e.Name = intname
	return e, FormatDlist, nil
}

// DecodeIValue decodes a 3.6 I-record value; the entry's Name comes from its
// N field and History from its H list.
func DecodeIValue(uniqueid string, value []byte, c *NameConfig) (Entry, error) {
	e := Entry{UniqueID: uniqueid}
	if len(value) == 0 || value[0] != '%' {
		return e, verr(0, ErrSyntax, "I record value is not a dlist")
	}
	if ve := scanEntry(value, modeI, &e, c); ve != nil {
		return e, ve
	}
	if e.UniqueID != uniqueid && e.UniqueID != "" {
		return e, verr(0, ErrSyntax, "I field %q differs from the key's uniqueid %q", e.UniqueID, uniqueid)
	}
	// The key's uniqueid is the entry's: an empty I field in the value
	// does not make it an empty one.
	e.UniqueID = uniqueid
	if uniqueid != "" {
		e.SetPresent(FieldUniqueID, false)
	}
	if e.Name == "" {
		return e, verr(0, ErrSyntax, "I record without an N field (Cyrus 3.6 would take the file for a pre-3.6 one)")
	}
	return e, nil
}

// ---- encoding ----

// Value2x is the 2.0–2.4 value `type partition acl` (server!partition for an
// entry with a server). It fails for what 2.x cannot hold (see Losses).
func Value2x(e *Entry) ([]byte, error) {
	n, err := e.Type.LegacyNumber(V24)
	if err != nil {
		return nil, err
	}
	if err := checkLegacyFields(e); err != nil {
		return nil, err
	}
	b := strconv.AppendUint(nil, uint64(n), 10)
	b = append(b, ' ')
	if e.Has(FieldServer) {
		b = append(b, e.Server...)
		b = append(b, '!')
	}
	b = append(b, e.Partition...)
	b = append(b, ' ')
	b = append(b, e.ACL.TabString()...)
	return b, nil
}

// ValueDlist is the 2.5–3.4 dlist value of e as version v writes it:
// `%(A %(...) I u P p S s T t V n C n F n M n)`, fields present when set, C
// only from 3.2, F only from 3.0, M always.
func ValueDlist(v Version, e *Entry) ([]byte, error) {
	if v < V25 || v >= V36 {
		return nil, fmt.Errorf("mboxlist: ValueDlist for Cyrus %s", v)
	}
	letters, err := e.Type.LegacyLetters(v)
	if err != nil {
		return nil, err
	}
	w := kvWriter{b: make([]byte, 0, 128)}
	w.open()
	if e.ACL != nil {
		w.acl(e.ACL)
	}
	if e.Has(FieldUniqueID) {
		w.str("I", e.UniqueID)
	}
	if e.Has(FieldPartition) {
		w.str("P", e.Partition)
	}
	if e.Has(FieldServer) {
		w.str("S", e.Server)
	}
	if letters != "" {
		w.str("T", letters)
	}
	if e.UIDValidity != 0 {
		w.num("V", uint64(e.UIDValidity))
	}
	if v >= V32 && e.CreatedModseq != 0 {
		w.num("C", e.CreatedModseq)
	}
	if v >= V30 && e.FolderModseq != 0 {
		w.num("F", e.FolderModseq)
	}
	w.num("M", uint64(e.Mtime))
	w.close()
	return w.b, nil
}

func (e *Entry) write36(w *kvWriter, forI bool, db string, c *NameConfig) error {
	t, err := e.Type.Format36()
	if err != nil {
		return err
	}
	w.open()
	w.str("T", t)
	if forI {
		w.str("N", db)
	} else if e.Has(FieldUniqueID) {
		w.str("I", e.UniqueID)
	}
	if e.Has(FieldPartition) {
		w.str("P", e.Partition)
	}
	if e.Has(FieldServer) {
		w.str("S", e.Server)
	}
	if e.UIDValidity != 0 {
		w.num("V", uint64(e.UIDValidity))
	}
	if e.CreatedModseq != 0 {
		w.num("C", e.CreatedModseq)
	}
	if e.FolderModseq != 0 {
		w.num("F", e.FolderModseq)
	}
	w.num("M", uint64(e.Mtime))
	if e.ACL != nil {
		w.acl(e.ACL)
	}
	if forI {
		w.key("H")
		w.b = append(w.b, '(')
		for i, h := range e.History {
			if i > 0 {
				w.b = append(w.b, ' ')
			}
			ht, err := h.Type.Format36()
			if err != nil {
				return err
			}
			w.open()
			w.str("N", DBName(h.Name, c))
			if h.Mtime != 0 {
				w.num("M", uint64(h.Mtime))
			}
			if h.UIDValidity != 0 {
				w.num("V", uint64(h.UIDValidity))
			}
			if h.CreatedModseq != 0 {
				w.num("C", h.CreatedModseq)
			}
			if h.FolderModseq != 0 {
				w.num("F", h.FolderModseq)
			}
			w.str("T", ht)
			if h.HasPartition() {
				w.str("P", h.Partition)
			}
			w.close()
		}
		w.b = append(w.b, ')')
	}
	w.close()
	return nil
}

// ValueN is the 3.6 N-record value, byte-exact as Cyrus 3.6–3.12 write it
// (with M = e.Mtime where Cyrus writes the current time).
func ValueN(e *Entry, c *NameConfig) ([]byte, error) {
	w := kvWriter{b: make([]byte, 0, valueSizeHint(e))}
	if err := e.write36(&w, false, "", c); err != nil {
		return nil, err
	}
	return w.b, nil
}

// ValueI is the 3.6 I-record value (N field and H history list).
func ValueI(e *Entry, c *NameConfig) ([]byte, error) {
	w := kvWriter{b: make([]byte, 0, valueSizeHint(e)+len(e.Name)+16)}
	if err := e.write36(&w, true, DBName(e.Name, c), c); err != nil {
		return nil, err
	}
	return w.b, nil
}

// checkLegacyFields refuses what the space-separated `type
// [server!]partition acl` form cannot carry unambiguously.
func checkLegacyFields(e *Entry) error {
	bad := func(what string) error {
		return fmt.Errorf("%w: entry %q: %s in the 2.x / legacy dump form", ErrUnrepresentable, e.Name, what)
	}
	switch {
	case strings.ContainsAny(e.Server, " \t!\r\n"):
		return bad("server with a space, TAB, '!' or line break")
	case strings.ContainsAny(e.Partition, " \t\r\n"):
		return bad("partition with a space, TAB or line break")
	case e.Server == "" && strings.Contains(e.Partition, "!"):
		return bad("partition with '!' and no server")
	}
	for _, it := range e.ACL {
		if strings.ContainsAny(it.ID, "\t\r\n\x00") || strings.ContainsAny(it.Rights, "\t\r\n\x00") {
			return bad("ACL item with a TAB or line break")
		}
	}
	return nil
}

// decodeTree is the tree-parser twin of scanEntry (for the differential
// fuzz test and nothing else).
func decodeTree(value []byte, mode dlistMode, e *Entry, c *NameConfig) *ValueError {
	root, ve := parseDlist(value)
	if ve != nil {
		return ve
	}
	return entryFromDlist(&root, mode, e, c)
}

// valueSizeHint is a capacity that holds most values without growing.
func valueSizeHint(e *Entry) int {
	n := 96 + len(e.UniqueID) + len(e.Partition) + len(e.Server)
	for _, it := range e.ACL {
		n += len(it.ID) + len(it.Rights) + 2
	}
	for _, h := range e.History {
		n += 64 + 2*len(h.Name)
	}
	return n
}
