package mboxlist

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Legacy text dumps (docs/cyrus-db.md §5):
//
//	2.4      name TAB type SP [server!]partition SP acl      (fields as stored)
//	2.5      name TAB type SP partition SP acl               (no server)
//	3.0–3.4  name TAB type SP [server!]partition SP acl
//	3.6 -u -L name TAB type SP [server!]partition SP acl '>' uniqueid SP mtime SP uidvalidity SP foldermodseq SP createdmodseq [SP specialuse]
//
// type is decimal: the 2.x–3.4 numbering up to 3.4, the 3.6 numbering in
// the 3.6 form (3.6 reads the number as-is). acl is the tab form.

// nullPartition is what the `ctl_mboxlist -d` of 2.5–3.4 prints for an entry
// without a partition (a NULL string given to glibc's printf "%s").
const nullPartition = "(null)"

// AppendLegacyLine appends the dump line of e (with its LF) as version v
// prints it (2.4–3.4), or, for V36, the line that 3.6 `ctl_mboxlist -u -L`
// reads back into the same entry. An entry without a uniqueid gets no `>`
// part (3.6 -u -L then loads it without one; mtime, uidvalidity and modseqs
// are lost with it).
func AppendLegacyLine(b []byte, v Version, e *Entry) ([]byte, error) {
	if err := checkLegacyFields(e); err != nil {
		return nil, err
	}
	switch {
	case e.Name == "" || strings.ContainsAny(e.Name, "\t\r\n"):
		return nil, fmt.Errorf("%w: mailbox name %q in a dump line", ErrUnrepresentable, e.Name)
	case e.Partition == "" && !(e.Has(FieldPartition) && e.Has(FieldServer) && v != V25) &&
		(v.ByID() || v == V24 || e.Has(FieldPartition)):
		// "host!" carries a present, empty partition (Cyrus's -u splits it
		// into server "host" and partition ""); an absent one only the
		// 2.5–3.4 "(null)" of a tombstone.
		return nil, fmt.Errorf("%w: entry %q has no partition (dump lines need one)", ErrUnrepresentable, e.Name)
	case v.ByID() && strings.Contains(e.ACL.TabString(), ">"):
		return nil, fmt.Errorf("%w: entry %q: ACL with '>' in a 3.6 -u -L line", ErrUnrepresentable, e.Name)
	case v.ByID() && (strings.ContainsAny(e.UniqueID, " \t\r\n") || strings.ContainsAny(e.LegacySpecialUse, "\r\n")):
		return nil, fmt.Errorf("%w: entry %q: uniqueid or specialuse with white space", ErrUnrepresentable, e.Name)
	}
	b = append(b, e.Name...)
	b = append(b, '\t')
	if v.ByID() {
		t := e.Type
		if _, err := t.Format36(); err != nil {
			return nil, err
		}
		b = strconv.AppendUint(b, uint64(t), 10)
	} else {
		n, err := e.Type.LegacyNumber(v)
		if err != nil {
			return nil, err
		}
		b = strconv.AppendUint(b, uint64(n), 10)
	}
	b = append(b, ' ')
	if e.Has(FieldServer) && v != V25 {
		b = append(b, e.Server...)
		b = append(b, '!')
	}
	if e.Partition == "" && !e.Has(FieldPartition) {
		// 2.5–3.4 print the partition with printf("%s"): glibc's
		// "(null)" for an entry without one (a 3.2 tombstone: `16 (null) `)
		b = append(b, nullPartition...)
	} else {
		b = append(b, e.Partition...)
	}
	b = append(b, ' ')
	b = append(b, e.ACL.TabString()...)
	if v.ByID() && e.UniqueID != "" {
		b = append(b, '>')
		b = append(b, e.UniqueID...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, e.Mtime, 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(e.UIDValidity), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, e.FolderModseq, 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, e.CreatedModseq, 10)
		if e.LegacySpecialUse != "" {
			b = append(b, ' ')
			b = append(b, e.LegacySpecialUse...)
		}
	}
	return append(b, '\n'), nil
}

// ParseLegacyLine parses one dump line (without its LF; a trailing CR is
// dropped) of version v. Pre-3.6 lines are read as those versions' `-u`
// reads them: name up to the first TAB, a decimal type (absent in pre-2.2
// dumps: 0), partition up to the next SP or TAB (`server!partition` split),
// the ACL the rest. V36 lines also take the `>uniqueid mtime uidvalidity
// foldermodseq createdmodseq [specialuse]` tail, type in 3.6 numbering.
func ParseLegacyLine(v Version, line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	var e Entry
	tab := bytes.IndexByte(line, '\t')
	if tab < 0 {
		return e, verr(len(line), ErrSyntax, "no TAB after the mailbox name")
	}
	if tab == 0 {
		return e, verr(0, ErrSyntax, "empty mailbox name")
	}
	e.Name = string(line[:tab])
	p := tab + 1
	if p < len(line) && line[p] >= '0' && line[p] <= '9' {
		s := p
		for p < len(line) && line[p] >= '0' && line[p] <= '9' {
			p++
		}
		n, err := strconv.ParseUint(string(line[s:p]), 10, 32)
		if err != nil {
			return e, verr(s, ErrRange, "mailbox type %s out of range", line[s:p])
		}
		if v.ByID() {
			e.Type = MBType(n)
			if _, err := e.Type.Format36(); err != nil {
				return e, verr(s, ErrUnknown, "mailbox type %d: %v", n, err)
			}
		} else {
			t, err := FromLegacyNumber(uint32(n))
			if err != nil {
				return e, verr(s, ErrUnknown, "%v", err)
			}
			e.Type = t
		}
		if p >= len(line) || line[p] != ' ' {
			return e, verr(p, ErrSyntax, "mailbox type not followed by a space")
		}
		p++
	}
	s := p
	for p < len(line) && line[p] != ' ' && line[p] != '\t' {
		p++
	}
	part := line[s:p]
	if len(part) == 0 {
		return e, verr(s, ErrSyntax, "no partition")
	}
	if i := bytes.IndexByte(part, '!'); i >= 0 {
		e.Server, part = string(part[:i]), part[i+1:]
		// Cyrus splits "host!" into server "host" and partition "":
		// both present, even when empty.
		e.SetPresent(FieldServer, e.Server == "")
		e.SetPresent(FieldPartition, len(part) == 0)
	}
	e.Partition = string(part)
	if !v.ByID() && v != V24 && e.Partition == nullPartition {
		e.Partition = "" // the dump of an entry without a partition
	}
	if p < len(line) {
		p++
	}
	rest := line[p:]
	aclEnd := len(rest)
	if v.ByID() {
		if i := bytes.IndexByte(rest, '>'); i >= 0 {
			aclEnd = i
		}
	}
	acl, err := ParseACLTab(string(rest[:aclEnd]))
	if err != nil {
		return e, verr(p, ErrSyntax, "%v", err)
	}
	e.ACL = acl
	if v.ByID() && aclEnd == 0 {
		// 3.6 -u -L: no ACL text means no ACL at all (its scanf pattern
		// fails and it falls back to the ACL-less one).
		e.ACL = nil
	}
	if aclEnd == len(rest) {
		return e, nil
	}
	q := p + aclEnd + 1
	fields := bytes.SplitN(line[q:], []byte(" "), 6)
	if len(fields) < 5 {
		return e, verr(q, ErrSyntax, "'>' part needs uniqueid mtime uidvalidity foldermodseq createdmodseq")
	}
	e.UniqueID = string(fields[0])
	if e.UniqueID == "" {
		return e, verr(q, ErrSyntax, "empty uniqueid after '>'")
	}
	pos := q + len(fields[0]) + 1
	var u uint64
	nums := []struct {
		name string
		bits int
		set  func(uint64)
	}{
		{"mtime", 63, func(x uint64) { e.Mtime = int64(x) }},
		{"uidvalidity", 32, func(x uint64) { e.UIDValidity = uint32(x) }},
		{"foldermodseq", 64, func(x uint64) { e.FolderModseq = x }},
		{"createdmodseq", 64, func(x uint64) { e.CreatedModseq = x }},
	}
	for i, f := range nums {
		u, err = strconv.ParseUint(string(fields[i+1]), 10, f.bits)
		if err != nil {
			return e, verr(pos, ErrRange, "%s %q is not a %d-bit decimal", f.name, fields[i+1], f.bits)
		}
		f.set(u)
		pos += len(fields[i+1]) + 1
	}
	if len(fields) == 6 {
		e.LegacySpecialUse = string(fields[5])
	}
	return e, nil
}

// LegacyDecoder reads a legacy dump line by line.
type LegacyDecoder struct {
	r     *bufio.Reader
	v     Version
	line  int
	off   int64
	entry Entry
	err   error
}

// NewLegacyDecoder reads dump lines of version v from r.
func NewLegacyDecoder(r io.Reader, v Version) *LegacyDecoder {
	return &LegacyDecoder{r: bufio.NewReaderSize(r, 64<<10), v: v}
}

// MaxLegacyLine bounds one dump line (Cyrus's own reader stops at 16 KiB).
const MaxLegacyLine = 1 << 20

// Next reads the next line; empty lines are skipped.
func (d *LegacyDecoder) Next() bool {
	for d.err == nil {
		start := d.off
		line, err := d.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long := append([]byte(nil), line...) // ReadSlice's buffer is reused
			for err == bufio.ErrBufferFull {
				if len(long) > MaxLegacyLine {
					d.err = &DumpError{Line: d.line + 1, Offset: start, What: "line longer than 1 MiB", Err: ErrSyntax}
					return false
				}
				line, err = d.r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		d.off += int64(len(line))
		if len(line) == 0 && err == io.EOF {
			return false
		}
		if err != nil && err != io.EOF {
			d.err = err
			return false
		}
		d.line++
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				return false
			}
			continue
		}
		e, perr := ParseLegacyLine(d.v, line)
		if perr != nil {
			pos := 0
			what := perr.Error()
			if ve, ok := perr.(*ValueError); ok {
				pos, what = ve.Pos, ve.What
				d.err = &DumpError{Line: d.line, Offset: start + int64(pos), What: what, Err: ve.Err}
			} else {
				d.err = &DumpError{Line: d.line, Offset: start, What: what, Err: ErrSyntax}
			}
			return false
		}
		d.entry = e
		return true
	}
	return false
}

// Entry is the current entry.
func (d *LegacyDecoder) Entry() *Entry { e := d.entry; return &e }

// Err is the first error, nil at a clean end.
func (d *LegacyDecoder) Err() error { return d.err }
