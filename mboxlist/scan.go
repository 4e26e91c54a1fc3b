package mboxlist

import (
	"strings"
)

// The fast path of value decoding: one pass over the bytes, no item tree,
// strings copied only into the Entry. The tree parser in dlist.go gives the
// same results (FuzzDlistValue checks both) and serves the Detector.

// itemBytes is item without copying: the returned slice aliases the input
// unless the quoted string had escapes.
func (d *dparser) itemBytes() (s []byte, isNil bool, ok bool) {
	start := d.p
	if d.p >= len(d.b) {
		return nil, false, d.fail(d.p, "unexpected end of value")
	}
	switch d.b[d.p] {
	case '"':
		d.p++
		from := d.p
		for d.p < len(d.b) {
			c := d.b[d.p]
			if c == '"' {
				s = d.b[from:d.p]
				d.p++
				return s, false, true
			}
			if c == '\\' {
				d.p = start
				str, _, ok := d.item() // slow path with unescaping
				return []byte(str), false, ok
			}
			d.p++
		}
		return nil, false, d.fail(start, "unterminated quoted string")
	case '{':
		str, _, ok := d.item()
		if !ok {
			return nil, false, false
		}
		return d.b[d.p-len(str) : d.p], false, true
	default:
		end := d.p
		for end < len(d.b) && d.b[end] != ' ' {
			end++
		}
		for end > d.p && d.b[end-1] == ')' {
			end--
		}
		s = d.b[d.p:end]
		d.p = end
		return s, len(s) == 3 && s[0] == 'N' && s[1] == 'I' && s[2] == 'L', true
	}
}

// uintBytes parses an unsigned decimal of at most bits bits.
func uintBytes(field string, v []byte, pos, bits int) (uint64, *ValueError) {
	if len(v) == 0 {
		return 0, verr(pos, ErrSyntax, "field %s: empty number", field)
	}
	var n uint64
	limit := uint64(1)<<uint(bits) - 1
	if bits == 64 {
		limit = ^uint64(0)
	}
	for i, c := range v {
		if c < '0' || c > '9' {
			return 0, verr(pos+i, ErrSyntax, "field %s: %q is not a decimal number", field, v)
		}
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			// keep scanning for a syntax error first, as the tree parser does
			for _, c2 := range v[i:] {
				if c2 < '0' || c2 > '9' {
					return 0, verr(pos+i, ErrSyntax, "field %s: %q is not a decimal number", field, v)
				}
			}
			return 0, verr(pos, ErrRange, "field %s: %s does not fit in %d bits", field, v, bits)
		}
		n = n*10 + d
	}
	return n, nil
}

// Common strings, shared instead of copied for every record.
var internTable = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{"default", "lrswipkxtecdan", "lrswipkxtecda", "lrswipkxtea", "lrswipcda", "lr", "lrs", "l", "r", "lrsp", "lrswi",
		"anyone", "anonymous", "admin", "cyrus", "e"} {
		m[s] = s
	}
	return m
}()

// fieldNames holds the one-letter field names, so that naming a field
// (passed on to error messages) costs no allocation per value.
var fieldNames = func() (t [128]string) {
	for i := range t {
		t[i] = string(rune(i))
	}
	return t
}()

func fieldName(letter byte) string {
	if letter < 128 {
		return fieldNames[letter]
	}
	return string(rune(letter))
}

func intern(b []byte) string {
	if s, ok := internTable[string(b)]; ok {
		return s
	}
	return string(b)
}

const lettersLegacy = "AIPSTVCFM"
const letters36 = "TIPSVCFMAHNJ"

// scanEntry decodes a dlist kvlist value into e.
func scanEntry(b []byte, mode dlistMode, e *Entry, c *NameConfig) *ValueError {
	d := dparser{b: b}
	if len(b) < 2 || b[0] != '%' || b[1] != '(' {
		if len(b) > 0 && b[0] == '%' {
			return verr(0, ErrSyntax, "'%%' not followed by '('")
		}
		return verr(0, ErrSyntax, "value is not a kvlist")
	}
	d.p = 2
	if d.p >= len(b) {
		return verr(d.p, ErrSyntax, "unexpected end of value in kvlist")
	}
	allowed := letters36
	if mode == modeLegacy {
		allowed = lettersLegacy
	}
	var seen [128]bool
	for b[d.p] != ')' {
		keyPos := d.p
		k, isNil, ok := d.itemBytes()
		if !ok {
			return d.err
		}
		if isNil {
			return verr(keyPos, ErrSyntax, "NIL as a key")
		}
		if d.p >= len(b) || b[d.p] != ' ' {
			return verr(d.p, ErrSyntax, "key %q not followed by a space", k)
		}
		d.p++
		if d.p >= len(b) {
			return verr(d.p, ErrSyntax, "unexpected end of value")
		}
		if len(k) != 1 || k[0] >= 128 || strings.IndexByte(allowed, k[0]) < 0 {
			if ve := d.skipValue(); ve != nil {
				return ve
			}
			return verr(keyPos, ErrUnknown, "field %q", k)
		}
		letter := k[0]
		if seen[letter] {
			if ve := d.skipValue(); ve != nil {
				return ve
			}
			return verr(keyPos, ErrSyntax, "field %s twice", k)
		}
		seen[letter] = true
		var ve *ValueError
		switch letter {
		case 'A':
			e.ACL, ve = d.scanACL()
		case 'H':
			e.History, ve = d.scanHistory(c)
		default:
			ve = d.scanField(letter, mode, e, c)
		}
		if ve != nil {
			return ve
		}
		if !d.sep() {
			return d.err
		}
		if b[d.p] == ')' {
			break
		}
	}
	d.p++
	if d.p < len(b) {
		return verr(d.p, ErrSyntax, "trailing bytes after the dlist")
	}
	return nil
}

// skipValue parses and drops one value (to report syntax errors first).
func (d *dparser) skipValue() *ValueError {
	var n dnode
	if !d.value(&n, 1) {
		return d.err
	}
	return nil
}

// stringValue reads a value that must be a string or NIL.
func (d *dparser) stringValue(field string) ([]byte, bool, int, *ValueError) {
	pos := d.p
	if c := d.b[d.p]; c == '(' || c == '%' {
		if ve := d.skipValue(); ve != nil {
			return nil, false, pos, ve
		}
		return nil, false, pos, verr(pos, ErrSyntax, "field %s: want a string, got a list", field)
	}
	v, isNil, ok := d.itemBytes()
	if !ok {
		return nil, false, pos, d.err
	}
	return v, isNil, pos, nil
}

func (d *dparser) scanField(letter byte, mode dlistMode, e *Entry, c *NameConfig) *ValueError {
	field := fieldName(letter)
	v, isNil, pos, ve := d.stringValue(field)
	if ve != nil {
		return ve
	}
	switch letter {
	case 'V', 'C', 'F', 'M':
		if isNil {
			return verr(pos, ErrSyntax, "field %s: want a number", field)
		}
		bits := 64
		switch letter {
		case 'V':
			bits = 32
		case 'M':
			bits = 63
		}
		n, ve := uintBytes(field, v, pos, bits)
		if ve != nil {
			return ve
		}
		switch letter {
		case 'V':
			e.UIDValidity = uint32(n)
		case 'C':
			e.CreatedModseq = n
		case 'F':
			e.FolderModseq = n
		case 'M':
			e.Mtime = int64(n)
		}
		return nil
	case 'T':
		if isNil {
			e.Type = 0
			return nil
		}
		var t MBType
		var err error
		if mode == modeLegacy {
			t, err = ParseLegacyLetters(string(v))
		} else if len(v) == 1 && v[0] == 'e' {
			t = TypeEmail
		} else {
			t, err = ParseType36(string(v))
		}
		if err != nil {
			p := pos
			if te, ok := err.(*typeError); ok {
				p += te.pos
			}
			return verr(p, ErrUnknown, "field T: %v", err)
		}
		e.Type = t
		return nil
	}
	s := ""
	if !isNil {
		s = intern(v)
	}
	emptyAtom := !isNil && s == ""
	switch letter {
	case 'I':
		e.UniqueID = s
		e.SetPresent(FieldUniqueID, emptyAtom)
	case 'N':
		if mode == modeI {
			e.Name = IntNameFromDB(s, c)
		}
	case 'P':
		e.Partition = s
		e.SetPresent(FieldPartition, emptyAtom)
	case 'S':
		e.Server = s
		e.SetPresent(FieldServer, emptyAtom)
	case 'J':
		e.JMAPID = s
		e.SetPresent(FieldJMAPID, emptyAtom)
	}
	return nil
}

func (d *dparser) scanACL() (ACL, *ValueError) {
	b := d.b
	pos := d.p
	if b[d.p] != '%' || d.p+1 >= len(b) || b[d.p+1] != '(' {
		if ve := d.skipValue(); ve != nil {
			return nil, ve
		}
		return nil, verr(pos, ErrSyntax, "field A: want a kvlist %%(...)")
	}
	d.p += 2
	if d.p >= len(b) {
		return nil, verr(d.p, ErrSyntax, "unexpected end of value in kvlist")
	}
	a := make(ACL, 0, 4)
	for b[d.p] != ')' {
		keyPos := d.p
		k, isNil, ok := d.itemBytes()
		if !ok {
			return nil, d.err
		}
		if isNil {
			return nil, verr(keyPos, ErrSyntax, "NIL as a key")
		}
		if d.p >= len(b) || b[d.p] != ' ' {
			return nil, verr(d.p, ErrSyntax, "key %q not followed by a space", k)
		}
		d.p++
		if d.p >= len(b) {
			return nil, verr(d.p, ErrSyntax, "unexpected end of value")
		}
		vpos := d.p
		if c := b[d.p]; c == '(' || c == '%' {
			if ve := d.skipValue(); ve != nil {
				return nil, ve
			}
			return nil, verr(vpos, ErrSyntax, "ACL rights of %q: want a string", k)
		}
		v, vNil, ok := d.itemBytes()
		if !ok {
			return nil, d.err
		}
		if vNil {
			return nil, verr(vpos, ErrSyntax, "ACL rights of %q: want a string", k)
		}
		a = append(a, ACLItem{ID: intern(k), Rights: intern(v)})
		if !d.sep() {
			return nil, d.err
		}
		if b[d.p] == ')' {
			break
		}
	}
	d.p++
	return a, nil
}

func (d *dparser) scanHistory(c *NameConfig) ([]HistoryItem, *ValueError) {
	b := d.b
	pos := d.p
	if b[d.p] != '(' {
		if ve := d.skipValue(); ve != nil {
			return nil, ve
		}
		return nil, verr(pos, ErrSyntax, "field H: want a list")
	}
	d.p++
	if d.p >= len(b) {
		return nil, verr(d.p, ErrSyntax, "unexpected end of value in list")
	}
	var h []HistoryItem
	for b[d.p] != ')' {
		ipos := d.p
		if b[d.p] != '%' || d.p+1 >= len(b) || b[d.p+1] != '(' {
			if ve := d.skipValue(); ve != nil {
				return nil, ve
			}
			return nil, verr(ipos, ErrSyntax, "history item: want a kvlist")
		}
		d.p += 2
		if d.p >= len(b) {
			return nil, verr(d.p, ErrSyntax, "unexpected end of value in kvlist")
		}
		var hi HistoryItem
		var seen [128]bool
		for b[d.p] != ')' {
			keyPos := d.p
			k, isNil, ok := d.itemBytes()
			if !ok {
				return nil, d.err
			}
			if isNil {
				return nil, verr(keyPos, ErrSyntax, "NIL as a key")
			}
			if d.p >= len(b) || b[d.p] != ' ' {
				return nil, verr(d.p, ErrSyntax, "key %q not followed by a space", k)
			}
			d.p++
			if d.p >= len(b) {
				return nil, verr(d.p, ErrSyntax, "unexpected end of value")
			}
			if len(k) != 1 || k[0] >= 128 || strings.IndexByte("NMVCFTP", k[0]) < 0 {
				if ve := d.skipValue(); ve != nil {
					return nil, ve
				}
				return nil, verr(keyPos, ErrUnknown, "history field %q", k)
			}
			if seen[k[0]] {
				if ve := d.skipValue(); ve != nil {
					return nil, ve
				}
				return nil, verr(keyPos, ErrSyntax, "history field %s twice", k)
			}
			seen[k[0]] = true
			field := string(k)
			v, vNil, vpos, ve := d.stringValue(field)
			if ve != nil {
				return nil, ve
			}
			switch k[0] {
			case 'N':
				if !vNil {
					hi.Name = IntNameFromDB(string(v), c)
				}
			case 'P':
				if !vNil {
					hi.Partition = intern(v)
					hi.EmptyPartition = len(v) == 0
				}
			case 'T':
				if !vNil {
					t, err := ParseType36(string(v))
					if err != nil {
						p := vpos
						if te, ok := err.(*typeError); ok {
							p += te.pos
						}
						return nil, verr(p, ErrUnknown, "field T: %v", err)
					}
					hi.Type = t
				}
			default:
				if vNil {
					return nil, verr(vpos, ErrSyntax, "field %s: want a number", field)
				}
				bits := 64
				switch k[0] {
				case 'V':
					bits = 32
				case 'M':
					bits = 63
				}
				n, ve := uintBytes(field, v, vpos, bits)
				if ve != nil {
					return nil, ve
				}
				switch k[0] {
				case 'M':
					hi.Mtime = int64(n)
				case 'V':
					hi.UIDValidity = uint32(n)
				case 'C':
					hi.CreatedModseq = n
				case 'F':
					hi.FolderModseq = n
				}
			}
			if !d.sep() {
				return nil, d.err
			}
			if b[d.p] == ')' {
				break
			}
		}
		d.p++
		h = append(h, hi)
		if !d.sep() {
			return nil, d.err
		}
		if b[d.p] == ')' {
			break
		}
	}
	d.p++
	return h, nil
}
