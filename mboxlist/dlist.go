package mboxlist

import (
	"strconv"
	"strings"
)

// The dlist text form used by mailboxes.db values (docs/cyrus-db.md §4.5;
// Cyrus imap/dlist.c _parsesax and dlist_print, lib/prot.c
// prot_printastring).

type dkind uint8

const (
	dString dkind = iota
	dNil
	dList
	dKVList
)

// dnode is one parsed dlist item. pos is the byte position of the value in
// the whole input, keyPos that of its key (inside a kvlist).
type dnode struct {
	kind   dkind
	key    string
	keyPos int
	val    string
	pos    int
	kids   []dnode
}

// maxDlistDepth bounds nesting; mailboxes.db values nest three deep at most
// (value, H list, history item).
const maxDlistDepth = 16

type dparser struct {
	b   []byte
	p   int
	err *ValueError
}

func (d *dparser) fail(pos int, what string) bool {
	if d.err == nil {
		d.err = &ValueError{Pos: pos, What: what, Err: ErrSyntax}
	}
	return false
}

// item reads a string item: quoted, literal, or atom (up to the next space,
// trailing ')' stripped). It reports NIL separately.
func (d *dparser) item() (s string, isNil bool, ok bool) {
	start := d.p
	if d.p >= len(d.b) {
		return "", false, d.fail(d.p, "unexpected end of value")
	}
	switch d.b[d.p] {
	case '"':
		d.p++
		var buf []byte
		for d.p < len(d.b) {
			c := d.b[d.p]
			if c == '"' {
				d.p++
				return string(buf), false, true
			}
			if c == '\\' {
				d.p++
				if d.p == len(d.b) {
					break
				}
				c = d.b[d.p]
			}
			buf = append(buf, c)
			d.p++
		}
		return "", false, d.fail(start, "unterminated quoted string")
	case '{':
		d.p++
		n := 0
		digits := 0
		for d.p < len(d.b) && d.b[d.p] >= '0' && d.b[d.p] <= '9' {
			if n > len(d.b) {
				return "", false, d.fail(start, "literal length past the end of the value")
			}
			n = n*10 + int(d.b[d.p]-'0')
			d.p++
			digits++
		}
		if d.p+1 < len(d.b) && d.b[d.p] == '+' {
			d.p++
		}
		if d.p >= len(d.b) || d.b[d.p] != '}' {
			return "", false, d.fail(start, "bad literal header")
		}
		// Cyrus wants at least one byte after the literal.
		if n > len(d.b) || d.p+3+n >= len(d.b) {
			return "", false, d.fail(start, "literal length "+strconv.Itoa(n)+" past the end of the value")
		}
		if d.b[d.p+1] != '\r' || d.b[d.p+2] != '\n' {
			return "", false, d.fail(d.p+1, "literal header not followed by CRLF")
		}
		s = string(d.b[d.p+3 : d.p+3+n])
		d.p += 3 + n
		return s, false, true
	default:
		end := d.p
		for end < len(d.b) && d.b[end] != ' ' {
			end++
		}
		for end > d.p && d.b[end-1] == ')' {
			end--
		}
		s = string(d.b[d.p:end])
		d.p = end
		return s, s == "NIL", true
	}
}

func (d *dparser) value(n *dnode, depth int) bool {
	if depth > maxDlistDepth {
		return d.fail(d.p, "dlist nested too deep")
	}
	if d.p >= len(d.b) {
		return d.fail(d.p, "unexpected end of value")
	}
	n.pos = d.p
	switch d.b[d.p] {
	case '(':
		n.kind = dList
		d.p++
		if d.p >= len(d.b) {
			return d.fail(d.p, "unexpected end of value in list")
		}
		for d.b[d.p] != ')' {
			var kid dnode
			if !d.value(&kid, depth+1) {
				return false
			}
			n.kids = append(n.kids, kid)
			if !d.sep() {
				return false
			}
			if d.b[d.p] == ')' {
				break
			}
		}
		d.p++
		return true
	case '%':
		d.p++
		if d.p >= len(d.b) || d.b[d.p] != '(' {
			return d.fail(n.pos, "'%' not followed by '('")
		}
		n.kind = dKVList
		d.p++
		if d.p >= len(d.b) {
			return d.fail(d.p, "unexpected end of value in kvlist")
		}
		for d.b[d.p] != ')' {
			var kid dnode
			kid.keyPos = d.p
			k, isNil, ok := d.item()
			if !ok {
				return false
			}
			if isNil {
				return d.fail(kid.keyPos, "NIL as a key")
			}
			kid.key = k
			if d.p >= len(d.b) || d.b[d.p] != ' ' {
				return d.fail(d.p, "key "+strconv.Quote(k)+" not followed by a space")
			}
			d.p++
			if !d.value(&kid, depth+1) {
				return false
			}
			n.kids = append(n.kids, kid)
			if !d.sep() {
				return false
			}
			if d.b[d.p] == ')' {
				break
			}
		}
		d.p++
		return true
	default:
		s, isNil, ok := d.item()
		if !ok {
			return false
		}
		if isNil {
			n.kind = dNil
		} else {
			n.kind, n.val = dString, s
		}
		return true
	}
}

// sep is what follows an item inside a list: ')' (left for the caller) or
// one space then more.
func (d *dparser) sep() bool {
	if d.p >= len(d.b) {
		return d.fail(d.p, "unexpected end of value: missing ')'")
	}
	if d.b[d.p] == ')' {
		return true
	}
	if d.b[d.p] != ' ' {
		return d.fail(d.p, "expected ' ' or ')'")
	}
	d.p++
	if d.p >= len(d.b) {
		return d.fail(d.p, "unexpected end of value after ' '")
	}
	return true
}

// parseDlist parses a whole value; all of it must be consumed.
func parseDlist(b []byte) (dnode, *ValueError) {
	d := dparser{b: b}
	var n dnode
	if !d.value(&n, 0) {
		return n, d.err
	}
	if d.p < len(b) {
		return n, &ValueError{Pos: d.p, What: "trailing bytes after the dlist", Err: ErrSyntax}
	}
	return n, nil
}

// isAtom is Cyrus's imparse_isatom.
func isAtom(s string) bool {
	if s == "" || len(s) >= 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !atomChar[s[i]] {
			return false
		}
	}
	return true
}

// atomChar[c]: c may stand in a dlist atom (isAtom).
var atomChar = func() (t [256]bool) {
	for i := range t {
		c := byte(i)
		t[i] = !(c&0x80 != 0 || c < 0x1f || c == 0x7f || c == ' ' || c == '{' || c == '(' || c == ')' ||
			c == '"' || c == '%' || c == '*' || c == '\\')
	}
	return t
}()

// isQuotable is Cyrus's prot_printstring test (no NUL: C strings have none).
func isQuotable(s string) bool {
	if len(s) >= 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c&0x80 != 0 || c == '\r' || c == '\n' || c == '"' || c == '%' || c == '\\' || c == 0 {
			return false
		}
	}
	return true
}

// appendAstring writes s the way Cyrus's prot_printastring does on a
// client-mode stream: "" for empty, a bare atom, a quoted string, or a
// LITERAL+ `{n+}\r\n` literal.
func appendAstring(b []byte, s string) []byte { return appendAstringUS(b, s, false) }

// appendAstringUS is appendAstring for a version whose atoms may not hold
// 0x1F when quoteUS is set (Cyrus 3.12: Version.QuotesUS).
func appendAstringUS(b []byte, s string, quoteUS bool) []byte {
	switch {
	case s == "":
		return append(b, '"', '"')
	case isAtom(s) && s != "NIL" && !(quoteUS && strings.IndexByte(s, 0x1f) >= 0):
		return append(b, s...)
	case isQuotable(s):
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	default:
		b = append(b, '{')
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, '+', '}', '\r', '\n')
		return append(b, s...)
	}
}

// kvWriter builds a kvlist the way dlist_print does.
type kvWriter struct {
	b     []byte
	first bool
	// quoteUS: strings holding 0x1F are quoted (Version.QuotesUS).
	quoteUS bool
}

func (w *kvWriter) open()  { w.b = append(w.b, '%', '('); w.first = true }
func (w *kvWriter) close() { w.b = append(w.b, ')'); w.first = false }
func (w *kvWriter) key(k string) {
	if !w.first {
		w.b = append(w.b, ' ')
	}
	w.first = false
	w.b = appendAstringUS(w.b, k, w.quoteUS)
	w.b = append(w.b, ' ')
}
func (w *kvWriter) str(k, v string) { w.key(k); w.b = appendAstringUS(w.b, v, w.quoteUS) }
func (w *kvWriter) num(k string, v uint64) {
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}
func (w *kvWriter) acl(a ACL) {
	w.key("A")
	w.open()
	for _, it := range a {
		w.str(it.ID, it.Rights)
	}
	w.close()
}
