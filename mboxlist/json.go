package mboxlist

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON dumps: the exact bytes Cyrus 3.6 `ctl_mboxlist -d` prints (jansson
// 2.14, JSON_EMBED per entry: `{` LF, entries joined by `,` LF, LF `}` LF)
// and a streaming parser of the same (the input of `ctl_mboxlist -u`).

// appendJSONString appends s as jansson's dump_string does: `"` and `\`
// escaped, \b \f \n \r \t by name, other bytes below 0x20 as \u00XX
// (upper-case hex), everything else (UTF-8 included) as is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	if plainJSON(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// jsonOK is jansson's json_string check: a string that is not valid UTF-8
// (or holds NUL) makes json_string return NULL, and Cyrus's
// json_object_set_new then leaves the member out.
func jsonOK(s string) bool {
	if plainJSON(s) {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

// plainJSON reports whether s is printable ASCII without '"' and '\\':
// valid, and written as is.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

type jsonObj struct {
	b     []byte
	first bool
}

func (o *jsonObj) open() { o.b = append(o.b, '{'); o.first = true }
func (o *jsonObj) close() {
	o.b = append(o.b, '}')
	o.first = false
}
func (o *jsonObj) key(k string) {
	if !o.first {
		o.b = append(o.b, ',', ' ')
	}
	o.first = false
	o.b = appendJSONString(o.b, k)
	o.b = append(o.b, ':', ' ')
}
func (o *jsonObj) str(k, v string) {
	if !jsonOK(v) || !jsonOK(k) {
		return
	}
	o.strOK(k, v)
}

// keyLit writes a key known to be plain ASCII (a literal).
func (o *jsonObj) keyLit(k string) {
	if !o.first {
		o.b = append(o.b, ',', ' ')
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':', ' ')
}

// strLit is str for a literal key: v is scanned once when plain.
func (o *jsonObj) strLit(k, v string) {
	if plainJSON(v) {
		o.keyLit(k)
		o.b = append(o.b, '"')
		o.b = append(o.b, v...)
		o.b = append(o.b, '"')
		return
	}
	if jsonOK(v) {
		o.keyLit(k)
		o.b = appendJSONString(o.b, v)
	}
}

// typeLit writes an mbtype string (ASCII letters).
func (o *jsonObj) typeLit(k string, t MBType) {
	o.keyLit(k)
	o.b = append(o.b, '"')
	o.b = t.appendString(o.b)
	o.b = append(o.b, '"')
}

// strOK is str for a k and v known to be valid.
func (o *jsonObj) strOK(k, v string) {
	o.key(k)
	o.b = appendJSONString(o.b, v)
}

// num writes a decimal as a JSON string (Cyrus prints every number so).
func (o *jsonObj) num(k string, v uint64) {
	o.keyLit(k)
	o.b = append(o.b, '"')
	o.b = strconv.AppendUint(o.b, v, 10)
	o.b = append(o.b, '"')
}

func (o *jsonObj) snum(k string, v int64) {
	o.keyLit(k)
	o.b = append(o.b, '"')
	o.b = strconv.AppendInt(o.b, v, 10)
	o.b = append(o.b, '"')
}

// AppendJSONEntry appends one entry as Cyrus 3.6 dump_cb prints it with
// JSON_EMBED: `"<name>": {...}` without separators around it. Members in
// Cyrus's order: name, mtime, uidvalidity, createdmodseq, foldermodseq (all
// decimal strings), mbtype (T string), partition (omitted when absent,
// `""` when stored empty), server (likewise), acl (object; a repeated identifier keeps its
// first place and its last rights, as jansson does), uniqueid and
// legacy_specialuse (omitted when absent), name_history. Strings that are not
// valid UTF-8 are left out as jansson leaves them out; a name that is not
// valid UTF-8 gives nothing at all.
func AppendJSONEntry(b []byte, e *Entry) []byte { return appendJSONEntry(b, e, false) }

// appendJSONEntry is AppendJSONEntry; keepNilACL leaves the acl member out
// for an entry without an ACL (no A field), which Cyrus's undump then
// stores without one, where ctl_mboxlist -d prints "acl": {} for both.
func appendJSONEntry(b []byte, e *Entry, keepNilACL bool) []byte {
	plain := plainJSON(e.Name)
	if !plain && !jsonOK(e.Name) {
		return b
	}
	start := len(b)
	b = appendJSONString(b, e.Name)
	quoted := b[start:] // the name as a JSON string, reused for "name"
	b = append(b, ':', ' ')
	o := jsonObj{b: b}
	o.open()
	o.keyLit("name")
	o.b = append(o.b, quoted...)
	o.snum("mtime", e.Mtime)
	o.num("uidvalidity", uint64(e.UIDValidity))
	o.num("createdmodseq", e.CreatedModseq)
	o.num("foldermodseq", e.FolderModseq)
	o.typeLit("mbtype", e.Type)
	if e.Has(FieldPartition) {
		o.strLit("partition", e.Partition)
	}
	if e.Has(FieldServer) {
		o.strLit("server", e.Server)
	}
	if e.ACL != nil || !keepNilACL {
		o.keyLit("acl")
		acl := jsonACL(e.ACL)
		a := jsonObj{b: o.b}
		a.open()
		for _, it := range acl {
			a.strOK(it.ID, it.Rights) // jsonACL kept only valid items
		}
		a.close()
		o.b = a.b
	}
	if e.Has(FieldUniqueID) {
		o.strLit("uniqueid", e.UniqueID)
	}
	if e.Has(FieldSpecialUse) {
		o.strLit("legacy_specialuse", e.LegacySpecialUse)
	}
	o.keyLit("name_history")
	o.b = append(o.b, '[')
	for i, h := range e.History {
		if i > 0 {
			o.b = append(o.b, ',', ' ')
		}
		ho := jsonObj{b: o.b}
		ho.open()
		ho.strLit("name", h.Name)
		ho.snum("mtime", h.Mtime)
		ho.num("uidvalidity", uint64(h.UIDValidity))
		ho.num("createdmodseq", h.CreatedModseq)
		ho.num("foldermodseq", h.FolderModseq)
		ho.typeLit("mbtype", h.Type)
		if h.HasPartition() {
			ho.strLit("partition", h.Partition)
		}
		ho.close()
		o.b = ho.b
	}
	o.b = append(o.b, ']')
	o.close()
	return o.b
}

// jsonACL applies jansson's object semantics to an ACL: a repeated
// identifier keeps its first position and takes the last rights; items
// with strings that are not valid UTF-8 are dropped.
func jsonACL(a ACL) ACL {
	for _, it := range a {
		if strings.ContainsRune(it.ID, '\t') || strings.ContainsRune(it.Rights, '\t') {
			// Cyrus keeps the ACL as "id TAB rights TAB ..." and its dump
			// splits that string again: a TAB inside an item moves the
			// split, and a trailing identifier without rights is dropped.
			a = resplitACL(a.TabString())
			break
		}
	}
	if len(a) <= 32 {
		clean := true
		for i, it := range a {
			if !jsonOK(it.ID) || !jsonOK(it.Rights) {
				clean = false
			}
			for _, prev := range a[:i] {
				if prev.ID == it.ID {
					clean = false
				}
			}
		}
		if clean {
			return a
		}
	}
	var out ACL
	idx := map[string]int{}
	for _, it := range a {
		if !jsonOK(it.ID) || !jsonOK(it.Rights) {
			continue
		}
		if i, ok := idx[it.ID]; ok {
			out[i].Rights = it.Rights
			continue
		}
		idx[it.ID] = len(out)
		out = append(out, it)
	}
	return out
}

// JSONEncoder writes a `ctl_mboxlist -d` dump one entry at a time. Which
// entries go in is the caller's choice: Cyrus prints every N record that
// parses, tombstones included, intermediates only with -y (see
// DumpFilter).
type JSONEncoder struct {
	// KeepNilACL leaves the acl member out for entries without an ACL, so
	// that the file keeps them apart from entries with an empty one
	// (Cyrus's undump reads a missing acl as none); ctl_mboxlist -d prints
	// "acl": {} for both, which is the default.
	KeepNilACL bool

	w       *bufio.Writer
	started bool
	n       int
	buf     []byte
	err     error
}

// NewJSONEncoder returns an encoder writing to w.
func NewJSONEncoder(w io.Writer) *JSONEncoder {
	return &JSONEncoder{w: bufio.NewWriterSize(w, 64<<10)}
}

func (j *JSONEncoder) start() {
	if !j.started {
		j.started = true
		_, j.err = j.w.WriteString("{\n")
	}
}

// Add writes one entry.
func (j *JSONEncoder) Add(e *Entry) error {
	if j.err != nil {
		return j.err
	}
	j.start()
	j.buf = j.buf[:0]
	if j.n > 0 {
		j.buf = append(j.buf, ',', '\n')
	}
	j.buf = appendJSONEntry(j.buf, e, j.KeepNilACL)
	j.n++
	_, j.err = j.w.Write(j.buf)
	return j.err
}

// Close writes the closing `LF } LF` and flushes. It does not close the
// underlying writer.
func (j *JSONEncoder) Close() error {
	if j.err != nil {
		return j.err
	}
	j.start()
	if _, err := j.w.WriteString("\n}\n"); err != nil {
		return err
	}
	return j.w.Flush()
}

// DumpFilter reports whether Cyrus 3.6 `ctl_mboxlist -d` prints the entry:
// every entry but intermediates, which only -y (withIntermediates) adds.
func DumpFilter(e *Entry, withIntermediates bool) bool {
	return withIntermediates || !e.Type.Has(FlagIntermediate)
}

// JSONDecoder reads a JSON dump entry by entry without holding it whole.
// Members are matched case-sensitively, as jansson does; unknown members
// are skipped; a member given twice counts with its last value; null counts
// as absent. Numbers must be strings, as Cyrus writes them.
type JSONDecoder struct {
	j       *jscan
	state   int // 0 before '{', 1 inside, 2 done
	closing bool
	entry   Entry
	err     error
	je      jsonEntry
}

// NewJSONDecoder returns a decoder reading r.
func NewJSONDecoder(r io.Reader) *JSONDecoder {
	return &JSONDecoder{j: newJScan(r)}
}

type jsonHist struct {
	Name, Mtime, UIDValidity, CreatedModseq, FolderModseq, MBType, Partition *string
}

type jsonEntry struct {
	jsonHist
	Server, UniqueID, LegacySpecialUse *string
	ACL                                ACL
	HasACL                             bool
	NameHistory                        []jsonHist
}

func (d *JSONDecoder) failJ(e *jerr, sentinel error) bool {
	if d.err == nil {
		d.err = &DumpError{Offset: e.off, Line: e.line, What: e.what, Err: sentinel}
	}
	d.state = 2
	return false
}

// Next reads the next entry; false at the end of the object or on error.
func (d *JSONDecoder) Next() bool {
	if d.err != nil || d.state == 2 {
		return false
	}
	j := d.j
	if d.state == 0 {
		j.ws()
		if e := j.expect('{'); e != nil {
			return d.failJ(e, ErrSyntax)
		}
		d.state = 1
		j.ws()
		if b, ok := j.peek(); ok && b == '}' {
			j.pos++
			d.closing = true
		}
	}
	if d.closing {
		d.state = 2
		j.ws()
		if j.more() {
			return d.failJ(j.fail("data after the closing '}'"), ErrSyntax)
		}
		if j.rerr != nil && j.rerr != io.EOF {
			return d.failJ(j.readErr(), ErrSyntax)
		}
		return false
	}
	j.ws()
	name, e := j.str()
	if e != nil {
		return d.failJ(e, ErrSyntax)
	}
	j.ws()
	if e := j.expect(':'); e != nil {
		return d.failJ(e, ErrSyntax)
	}
	j.ws()
	if b, ok := j.peek(); !ok || b != '{' {
		if !ok {
			return d.failJ(j.readErr(), ErrSyntax)
		}
		return d.failJ(j.fail("entry %q: want an object", name), ErrSyntax)
	}
	line, off := j.line, j.offset()
	d.je = jsonEntry{NameHistory: d.je.NameHistory[:0]}
	if e := j.entry(&d.je); e != nil {
		return d.failJ(e, ErrSyntax)
	}
	en, what := d.je.entry(name)
	if what != "" {
		return d.failJ(&jerr{off: off, line: line, what: fmt.Sprintf("entry %q: %s", name, what)}, ErrRange)
	}
	j.ws()
	b, ok := j.peek()
	if !ok {
		return d.failJ(j.readErr(), ErrSyntax)
	}
	j.pos++
	switch b {
	case ',':
	case '}':
		d.closing = true
	default:
		j.pos--
		return d.failJ(j.fail("expected ',' or '}' after an entry"), ErrSyntax)
	}
	d.entry = en
	return true
}

func num(p *string, field string, bits int, dst *uint64) string {
	if p == nil {
		return ""
	}
	v, err := strconv.ParseUint(*p, 10, bits)
	if err != nil {
		return fmt.Sprintf("%s %q is not a %d-bit unsigned decimal", field, *p, bits)
	}
	*dst = v
	return ""
}

// emptyJSON reports a member present with the value "" (absent and null
// are both absent, as Cyrus's undump reads them).
func emptyJSON(p *string) bool { return p != nil && *p == "" }

func sval(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (h *jsonHist) fill(name *string, mtime *int64, uv *uint32, cm, fm *uint64, t *MBType, part *string) string {
	var v uint64
	if h.Mtime != nil {
		m, err := strconv.ParseInt(*h.Mtime, 10, 64)
		if err != nil {
			return fmt.Sprintf("mtime %q is not a decimal", *h.Mtime)
		}
		*mtime = m
	}
	if w := num(h.UIDValidity, "uidvalidity", 32, &v); w != "" {
		return w
	}
	*uv = uint32(v)
	if w := num(h.CreatedModseq, "createdmodseq", 64, cm); w != "" {
		return w
	}
	if w := num(h.FolderModseq, "foldermodseq", 64, fm); w != "" {
		return w
	}
	if h.MBType != nil {
		tt, err := ParseType36(*h.MBType)
		if err != nil {
			return "mbtype: " + err.Error()
		}
		*t = tt
	}
	*part = sval(h.Partition)
	if name != nil {
		*name = sval(h.Name)
	}
	return ""
}

func (je *jsonEntry) entry(name string) (Entry, string) {
	e := Entry{Name: name}
	if w := je.fill(nil, &e.Mtime, &e.UIDValidity, &e.CreatedModseq, &e.FolderModseq, &e.Type, &e.Partition); w != "" {
		return e, w
	}
	e.Server = sval(je.Server)
	e.UniqueID = sval(je.UniqueID)
	e.LegacySpecialUse = sval(je.LegacySpecialUse)
	e.SetPresent(FieldPartition, emptyJSON(je.Partition))
	e.SetPresent(FieldServer, emptyJSON(je.Server))
	e.SetPresent(FieldUniqueID, emptyJSON(je.UniqueID))
	e.SetPresent(FieldSpecialUse, emptyJSON(je.LegacySpecialUse))
	if je.HasACL {
		e.ACL = je.ACL
	} // no acl member: no ACL, as Cyrus's undump reads it
	for _, h := range je.NameHistory {
		var hi HistoryItem
		if w := h.fill(&hi.Name, &hi.Mtime, &hi.UIDValidity, &hi.CreatedModseq, &hi.FolderModseq, &hi.Type, &hi.Partition); w != "" {
			return e, "name_history: " + w
		}
		hi.EmptyPartition = emptyJSON(h.Partition)
		e.History = append(e.History, hi)
	}
	return e, ""
}

// Entry is the current entry.
func (d *JSONDecoder) Entry() *Entry { e := d.entry; return &e }

// Err is the first error, nil at a clean end.
func (d *JSONDecoder) Err() error { return d.err }

// resplitACL reads a tab-form ACL the way Cyrus's acl_to_json does.
func resplitACL(s string) ACL {
	var a ACL
	for s != "" {
		q := strings.IndexByte(s, '\t')
		if q < 0 {
			break
		}
		id := s[:q]
		s = s[q+1:]
		var rights string
		if p := strings.IndexByte(s, '\t'); p >= 0 {
			rights, s = s[:p], s[p+1:]
		} else {
			rights, s = s, ""
		}
		a = append(a, ACLItem{ID: id, Rights: rights})
	}
	return a
}

// UndumpSkips says why Cyrus 3.6 `ctl_mboxlist -u` (JSON) would not load
// the entry, or "" when it would: entries without a partition or without a
// uniqueid are skipped (every murder master and frontend entry lacks a
// uniqueid: use the `-u -L` legacy lines, AppendLegacyLine with V36, for
// those).
func UndumpSkips(e *Entry) string {
	switch {
	case e.Partition == "":
		return "no partition"
	case e.UniqueID == "":
		return "no uniqueid"
	}
	return ""
}
