package mboxlist

import (
	"fmt"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// jscan is a small streaming JSON reader specialised for dumps: it reads
// the top-level object member by member and each entry into Go values
// directly, without reflection. It accepts exactly RFC 8259 JSON (UTF-8
// only), and counts lines (LF occurs only in white space).
type jscan struct {
	r    io.Reader
	buf  []byte
	pos  int
	end  int
	base int64 // input offset of buf[0]
	line int
	rerr error
	tmp  []byte
}

const maxJSONDepth = 64

func newJScan(r io.Reader) *jscan {
	return &jscan{r: r, buf: make([]byte, 64<<10), line: 1}
}

func (j *jscan) offset() int64 { return j.base + int64(j.pos) }

type jerr struct {
	off  int64
	line int
	what string
}

func (j *jscan) fail(format string, args ...any) *jerr {
	return &jerr{off: j.offset(), line: j.line, what: fmt.Sprintf(format, args...)}
}

// more makes at least one unread byte available; false at end of input.
func (j *jscan) more() bool {
	if j.pos < j.end {
		return true
	}
	if j.rerr != nil {
		return false
	}
	j.base += int64(j.end)
	j.pos, j.end = 0, 0
	for j.end == 0 && j.rerr == nil {
		n, err := j.r.Read(j.buf)
		j.end = n
		if err != nil {
			j.rerr = err
		}
	}
	return j.end > 0
}

func (j *jscan) peek() (byte, bool) {
	if !j.more() {
		return 0, false
	}
	return j.buf[j.pos], true
}

func (j *jscan) ws() {
	for j.more() {
		switch j.buf[j.pos] {
		case '\n':
			j.line++
		case ' ', '\t', '\r':
		default:
			return
		}
		j.pos++
	}
}

func (j *jscan) readErr() *jerr {
	if j.rerr != nil && j.rerr != io.EOF {
		return j.fail("read: %v", j.rerr)
	}
	return j.fail("unexpected end of input")
}

func (j *jscan) expect(c byte) *jerr {
	b, ok := j.peek()
	if !ok {
		return j.readErr()
	}
	if b != c {
		return j.fail("expected %q, found %q", c, b)
	}
	j.pos++
	return nil
}

// str reads a JSON string (the opening quote next).
func (j *jscan) str() (string, *jerr) {
	if e := j.expect('"'); e != nil {
		return "", e
	}
	j.tmp = j.tmp[:0]
	start := j.offset()
	ascii, escaped := true, false
	for {
		if !j.more() {
			return "", j.readErr()
		}
		// fast copy of a plain run
		i := j.pos
		for i < j.end {
			c := j.buf[i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			if c >= 0x80 {
				ascii = false
			}
			i++
		}
		j.tmp = append(j.tmp, j.buf[j.pos:i]...)
		j.pos = i
		if i == j.end {
			continue
		}
		c := j.buf[j.pos]
		j.pos++
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(j.tmp) {
				at := start
				if !escaped {
					at += int64(firstInvalid(j.tmp))
				}
				return "", &jerr{off: at, line: j.line, what: "string is not valid UTF-8"}
			}
			return string(j.tmp), nil
		case c < 0x20:
			j.pos--
			return "", j.fail("control byte %#02x in a string", c)
		}
		// escape
		escaped = true
		if !j.more() {
			return "", j.readErr()
		}
		e := j.buf[j.pos]
		j.pos++
		switch e {
		case '"', '\\', '/':
			j.tmp = append(j.tmp, e)
		case 'b':
			j.tmp = append(j.tmp, '\b')
		case 'f':
			j.tmp = append(j.tmp, '\f')
		case 'n':
			j.tmp = append(j.tmp, '\n')
		case 'r':
			j.tmp = append(j.tmp, '\r')
		case 't':
			j.tmp = append(j.tmp, '\t')
		case 'u':
			r, ok := j.hex4()
			if !ok {
				return "", j.fail("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if b, ok := j.peek(); ok && b == '\\' {
					j.pos++
					if b, ok := j.peek(); ok && b == 'u' {
						j.pos++
						r2, ok = j.hex4()
						if !ok {
							return "", j.fail("bad \\u escape")
						}
					} else {
						return "", j.fail("lone surrogate in \\u escape")
					}
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", j.fail("lone surrogate in \\u escape")
				}
			}
			j.tmp = utf8.AppendRune(j.tmp, r)
			if r >= 0x80 {
				ascii = false
			}
		default:
			return "", j.fail("bad escape \\%c", e)
		}
	}
}

func (j *jscan) hex4() (rune, bool) {
	var r rune
	for k := 0; k < 4; k++ {
		if !j.more() {
			return 0, false
		}
		c := j.buf[j.pos]
		j.pos++
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (j *jscan) literal(word string) *jerr {
	for k := 0; k < len(word); k++ {
		if !j.more() {
			return j.readErr()
		}
		if j.buf[j.pos] != word[k] {
			return j.fail("invalid literal")
		}
		j.pos++
	}
	return nil
}

// number skips a JSON number, checking its grammar.
func (j *jscan) number() *jerr {
	digits := func() int {
		n := 0
		for j.more() && j.buf[j.pos] >= '0' && j.buf[j.pos] <= '9' {
			j.pos++
			n++
		}
		return n
	}
	if b, _ := j.peek(); b == '-' {
		j.pos++
	}
	b, ok := j.peek()
	if !ok {
		return j.readErr()
	}
	if b == '0' {
		j.pos++
	} else if digits() == 0 {
		return j.fail("invalid number")
	}
	if b, ok := j.peek(); ok && b == '.' {
		j.pos++
		if digits() == 0 {
			return j.fail("invalid number")
		}
	}
	if b, ok := j.peek(); ok && (b == 'e' || b == 'E') {
		j.pos++
		if b, ok := j.peek(); ok && (b == '+' || b == '-') {
			j.pos++
		}
		if digits() == 0 {
			return j.fail("invalid number")
		}
	}
	return nil
}

// skip reads and drops any value.
func (j *jscan) skip(depth int) *jerr {
	if depth > maxJSONDepth {
		return j.fail("JSON nested too deep")
	}
	b, ok := j.peek()
	if !ok {
		return j.readErr()
	}
	switch {
	case b == '"':
		_, e := j.str()
		return e
	case b == '{' || b == '[':
		closer := byte('}')
		if b == '[' {
			closer = ']'
		}
		j.pos++
		j.ws()
		if c, ok := j.peek(); ok && c == closer {
			j.pos++
			return nil
		}
		for {
			if b == '{' {
				if _, e := j.str(); e != nil {
					return e
				}
				j.ws()
				if e := j.expect(':'); e != nil {
					return e
				}
				j.ws()
			}
			if e := j.skip(depth + 1); e != nil {
				return e
			}
			j.ws()
			c, ok := j.peek()
			if !ok {
				return j.readErr()
			}
			j.pos++
			if c == closer {
				return nil
			}
			if c != ',' {
				j.pos--
				return j.fail("expected ',' or %q", closer)
			}
			j.ws()
		}
	case b == 't':
		return j.literal("true")
	case b == 'f':
		return j.literal("false")
	case b == 'n':
		return j.literal("null")
	case b == '-' || (b >= '0' && b <= '9'):
		return j.number()
	}
	return j.fail("unexpected %q", b)
}

// optString reads a member that must be a string or null.
func (j *jscan) optString(member string) (*string, *jerr) {
	b, ok := j.peek()
	if !ok {
		return nil, j.readErr()
	}
	switch b {
	case '"':
		s, e := j.str()
		if e != nil {
			return nil, e
		}
		return &s, nil
	case 'n':
		return nil, j.literal("null")
	}
	return nil, j.fail("member %s: want a string", member)
}

// object calls f for each member of an object (the '{' next); f reads the
// value.
func (j *jscan) object(f func(key string) *jerr) *jerr {
	if e := j.expect('{'); e != nil {
		return e
	}
	j.ws()
	if b, ok := j.peek(); ok && b == '}' {
		j.pos++
		return nil
	}
	for {
		j.ws()
		k, e := j.str()
		if e != nil {
			return e
		}
		j.ws()
		if e := j.expect(':'); e != nil {
			return e
		}
		j.ws()
		if e := f(k); e != nil {
			return e
		}
		j.ws()
		b, ok := j.peek()
		if !ok {
			return j.readErr()
		}
		j.pos++
		if b == '}' {
			return nil
		}
		if b != ',' {
			j.pos--
			return j.fail("expected ',' or '}'")
		}
	}
}

func (j *jscan) histFields(h *jsonHist, key string) (bool, *jerr) {
	var dst **string
	switch key {
	case "name":
		dst = &h.Name
	case "mtime":
		dst = &h.Mtime
	case "uidvalidity":
		dst = &h.UIDValidity
	case "createdmodseq":
		dst = &h.CreatedModseq
	case "foldermodseq":
		dst = &h.FolderModseq
	case "mbtype":
		dst = &h.MBType
	case "partition":
		dst = &h.Partition
	default:
		return false, nil
	}
	s, e := j.optString(key)
	*dst = s
	return true, e
}

// entry reads one entry object into je.
func (j *jscan) entry(je *jsonEntry) *jerr {
	return j.object(func(key string) *jerr {
		if ok, e := j.histFields(&je.jsonHist, key); ok || e != nil {
			return e
		}
		var e *jerr
		switch key {
		case "server":
			je.Server, e = j.optString(key)
		case "uniqueid":
			je.UniqueID, e = j.optString(key)
		case "legacy_specialuse":
			je.LegacySpecialUse, e = j.optString(key)
		case "acl":
			je.ACL, je.HasACL = nil, false
			if b, _ := j.peek(); b == 'n' {
				return j.literal("null")
			}
			if b, _ := j.peek(); b != '{' {
				return j.fail("member acl: want an object")
			}
			je.HasACL = true
			je.ACL = ACL{}
			e = j.object(func(id string) *jerr {
				r, e := j.optString("acl")
				if e != nil {
					return e
				}
				if r == nil {
					return j.fail("rights of %q: want a string", id)
				}
				je.ACL = append(je.ACL, ACLItem{ID: id, Rights: *r})
				return nil
			})
		case "name_history":
			je.NameHistory = je.NameHistory[:0]
			b, _ := j.peek()
			if b == 'n' {
				return j.literal("null")
			}
			if b != '[' {
				return j.fail("member name_history: want an array")
			}
			j.pos++
			j.ws()
			if c, _ := j.peek(); c == ']' {
				j.pos++
				return nil
			}
			for {
				j.ws()
				var h jsonHist
				if c, _ := j.peek(); c == 'n' {
					if e := j.literal("null"); e != nil {
						return e
					}
				} else if c != '{' {
					return j.fail("name_history item: want an object")
				} else if e := j.object(func(k string) *jerr {
					if ok, e := j.histFields(&h, k); ok || e != nil {
						return e
					}
					return j.skip(2)
				}); e != nil {
					return e
				}
				je.NameHistory = append(je.NameHistory, h)
				j.ws()
				c, ok := j.peek()
				if !ok {
					return j.readErr()
				}
				j.pos++
				if c == ']' {
					return nil
				}
				if c != ',' {
					j.pos--
					return j.fail("expected ',' or ']'")
				}
			}
		default:
			e = j.skip(1)
		}
		return e
	})
}

// firstInvalid is the index of the first byte of b that is not valid UTF-8.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}
