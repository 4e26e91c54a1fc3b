package mboxlist

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func checkErr(t *testing.T, err error) {
	t.Helper()
	var ve *ValueError
	var de *DumpError
	if !errors.As(err, &ve) && !errors.As(err, &de) {
		t.Fatalf("error is neither *ValueError nor *DumpError: %T %v", err, err)
	}
	if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrRange) && !errors.Is(err, ErrUnknown) {
		t.Fatalf("error wraps no sentinel: %v", err)
	}
}

// nameStable reports whether an internal name survives DBName and back (names
// holding '!' inside components, or empty components, do not — in Cyrus
// either).
func nameStable(n string) bool { return IntNameFromDB(DBName(n, nil), nil) == n }

func seeds36(f *testing.F) {
	for _, g := range golden36 {
		f.Add([]byte(g.value))
	}
	for _, g := range goldenI {
		f.Add([]byte(g.value))
	}
	for _, e := range corpus() {
		if v, err := ValueN(&e, nil); err == nil {
			f.Add(v)
		}
		if v, err := ValueI(&e, nil); err == nil {
			f.Add(v)
		}
	}
	f.Add([]byte("%(T e P {3}\r\nabc M 1)"))
	f.Add([]byte("%(T e P \"a\\\"b\" M NIL)"))
}

// FuzzDlistValue: no panic; errors typed with a position inside the value;
// a decoded N or I value re-encodes to bytes that decode to the same entry,
// and those bytes are a fixed point of decode+encode.
func FuzzDlistValue(f *testing.F) {
	seeds36(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		// The one-pass scanner and the tree parser agree.
		for _, mode := range []dlistMode{modeLegacy, modeN, modeI} {
			var a, b Entry
			ea := scanEntry(value, mode, &a, nil)
			eb := decodeTree(value, mode, &b, nil)
			if (ea == nil) != (eb == nil) {
				t.Fatalf("mode %d: scanner error %v, tree error %v", mode, ea, eb)
			}
			if ea == nil {
				if d := cmp.Diff(b, a, cmpopts.EquateEmpty()); d != "" {
					t.Fatalf("mode %d: scanner and tree differ (-tree +scan):\n%s", mode, d)
				}
			}
		}
		for _, key := range []string{"Nuser\x1ffuzz", "Ifuzz-id"} {
			rec, err := DecodeRecord(V36, []byte(key), value, nil)
			if err != nil {
				checkErr(t, err)
				var ve *ValueError
				if errors.As(err, &ve) && !ve.InKey && (ve.Pos < 0 || ve.Pos > len(value)) {
					t.Fatalf("position %d outside the value (len %d)", ve.Pos, len(value))
				}
				continue
			}
			e := rec.Entry
			if !nameStable(e.Name) {
				continue
			}
			stable := true
			for _, h := range e.History {
				stable = stable && nameStable(h.Name)
			}
			if !stable {
				continue
			}
			var enc []byte
			if key[0] == 'N' {
				enc, err = ValueN(&e, nil)
			} else {
				enc, err = ValueI(&e, nil)
			}
			if err != nil {
				continue // e.g. a 2.x value under an N key with flags 3.6 cannot print
			}
			rec2, err := DecodeRecord(V36, []byte(key), enc, nil)
			if err != nil {
				t.Fatalf("re-encoded %q does not decode: %v", enc, err)
			}
			e2 := rec2.Entry
			if key[0] == 'N' {
				e.History = nil
			}
			if rec.Format == Format2x {
				e.LegacySpecialUse = ""
			}
			// 3.6-3.12 values have no J field: ValueN/ValueI leave the
			// master-only jmapid out, and Losses names it ("jmapid").
			if e.Has(FieldJMAPID) {
				if len(Losses(V36, &e)) == 0 {
					t.Fatalf("%q: a jmapid the 3.6 value drops is not named as a loss", value)
				}
				e.JMAPID = ""
				e.SetPresent(FieldJMAPID, false)
			}
			if d := cmp.Diff(e, e2); d != "" {
				t.Fatalf("round trip of %q via %q (-first +second):\n%s", value, enc, d)
			}
			var enc2 []byte
			if key[0] == 'N' {
				enc2, _ = ValueN(&e2, nil)
			} else {
				enc2, _ = ValueI(&e2, nil)
			}
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding not a fixed point: %q then %q", enc, enc2)
			}
		}
	})
}

// FuzzLegacyValue: 2.x and 2.5–3.4 values; no panic, typed errors, round
// trips through Value2x and ValueDlist.
func FuzzLegacyValue(f *testing.F) {
	for _, v := range []Version{V24, V25, V30, V34} {
		for _, e := range oldCorpus(v) {
			kvs, err := EncodeRecords(v, &e, nil)
			if err == nil {
				f.Add(kvs[0].Value)
			}
		}
	}
	f.Add([]byte("(uniqueid u-front specialuse \\Sent) 1 backend1!default front\tlrswipkxtecda\t"))
	f.Add([]byte("3 be!p fred\tlrs"))
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, v := range []Version{V24, V34} {
			e, format, err := DecodeValue(v, "user.fuzz", value, nil)
			if err != nil {
				checkErr(t, err)
				continue
			}
			var enc []byte
			switch format {
			case Format2x:
				if e.UniqueID != "" || e.LegacySpecialUse != "" {
					continue // the extended prefix is read, never written
				}
				enc, err = Value2x(&e)
			case FormatDlist:
				enc, err = ValueDlist(V34, &e)
			}
			if err != nil {
				continue
			}
			e2, _, err := DecodeValue(v, "user.fuzz", enc, nil)
			if err != nil {
				t.Fatalf("re-encoded %q does not decode: %v", enc, err)
			}
			if d := cmp.Diff(e, e2); d != "" {
				t.Fatalf("round trip of %q via %q:\n%s", value, enc, d)
			}
		}
	})
}

// FuzzLegacyDumpLine: dump lines of 3.0–3.4 and 3.6 -u -L; round trip.
func FuzzLegacyDumpLine(f *testing.F) {
	for _, v := range []Version{V30, V36} {
		for _, e := range oldCorpus(V34) {
			if line, err := AppendLegacyLine(nil, v, &e); err == nil {
				f.Add(bytes.TrimSuffix(line, []byte("\n")))
			}
		}
	}
	f.Add([]byte("user.bob\t0 default bob\tlrswipkxtecda\t>uid-bob 1500000000 1500000001 7 3 \\Sent"))
	f.Add([]byte("user.old\tdefault fred\tlrs\t"))
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		for _, v := range []Version{V30, V36} {
			e, err := ParseLegacyLine(v, line)
			if err != nil {
				checkErr(t, err)
				continue
			}
			enc, err := AppendLegacyLine(nil, v, &e)
			if err != nil {
				continue
			}
			e2, err := ParseLegacyLine(v, bytes.TrimSuffix(enc, []byte("\n")))
			if err != nil {
				t.Fatalf("re-encoded %q does not parse: %v", enc, err)
			}
			if d := cmp.Diff(e, e2); d != "" {
				t.Fatalf("round trip of %q via %q:\n%s", line, enc, d)
			}
		}
	})
}

// FuzzJSONDump: the JSON dump parser never panics, errors are typed, and
// whatever it reads our encoder writes back to the same entries.
func FuzzJSONDump(f *testing.F) {
	for _, e := range corpus() {
		if len(e.Name) < 100 && len(e.ACL.TabString()) < 200 {
			f.Add(jsonDumpF([]Entry{e}))
		}
	}
	f.Add([]byte("{\n}\n"))
	f.Add([]byte(`{"a": {"mbtype": "er", "partition": "p", "acl": {"x": "lr", "x": "l"}, "name_history": [{"name": "b", "mtime": "-1"}]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 16<<10 {
			return
		}
		d := NewJSONDecoder(bytes.NewReader(in))
		var es []Entry
		for i := 0; d.Next() && i < 1000; i++ {
			e := *d.Entry()
			e.ACL = jsonACL(e.ACL)
			if e.ACL == nil {
				e.ACL = ACL{}
			}
			es = append(es, e)
		}
		if err := d.Err(); err != nil {
			checkErr(t, err)
			return
		}
		// Compare with the encoding/json reference where it has the same
		// rules (ASCII-only lower-case input without \u escapes: no case
		// folding of member names).
		if !bytes.ContainsAny(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && !bytes.Contains(in, []byte("\\u")) && len(es) < 1000 && isASCII(in) {
			if ref, err := refJSONDecode(in); err == nil {
				if d := cmp.Diff(ref, decodedRaw(in), cmpopts.EquateEmpty()); d != "" {
					t.Fatalf("scanner and encoding/json differ on %q:\n%s", in, d)
				}
			}
		}
		out := jsonDumpF(es)
		d2 := NewJSONDecoder(bytes.NewReader(out))
		var back []Entry
		for d2.Next() {
			back = append(back, *d2.Entry())
		}
		if err := d2.Err(); err != nil {
			t.Fatalf("our dump %q does not parse: %v", out, err)
		}
		if d := cmp.Diff(es, back, cmp.Comparer(func(a, b []HistoryItem) bool { return cmp.Equal(emptyNil(a), emptyNil(b)) })); d != "" {
			t.Fatalf("round trip:\n%s", d)
		}
	})
}

func emptyNil(h []HistoryItem) []HistoryItem {
	if len(h) == 0 {
		return nil
	}
	return h
}

func jsonDumpF(es []Entry) []byte {
	var b bytes.Buffer
	enc := NewJSONEncoder(&b)
	for i := range es {
		enc.Add(&es[i])
	}
	enc.Close()
	return b.Bytes()
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func decodedRaw(in []byte) []Entry {
	es, _ := decodeJSONAll(in)
	return es
}

// FuzzDecodeRecord: any key and value of any version: no panic, typed
// errors; entries of each version re-encode and decode to themselves.
func FuzzDecodeRecord(f *testing.F) {
	for _, v := range []Version{V24, V34, V36} {
		for _, e := range oldCorpus(V34) {
			kvs, err := EncodeRecords(v, &e, &EncodeOptions{ReverseACLs: true, ReverseUniqueIDs: true})
			if err != nil {
				continue
			}
			for _, kv := range kvs {
				f.Add(kv.Key, kv.Value)
			}
		}
	}
	f.Add([]byte("AS\x1e"), []byte{})
	f.Add([]byte("$RACL"), []byte("2"))
	f.Add([]byte("Jfred\x1eJ123"), []byte("%(T e N user\x1ffred I u1 J J123 M 1)"))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		for _, v := range []Version{V24, V30, V36} {
			rec, err := DecodeRecord(v, key, value, nil)
			if err != nil {
				checkErr(t, err)
				continue
			}
			if rec.Kind == 0 {
				t.Fatalf("record without kind: %q", key)
			}
		}
	})
}

// FuzzMUTF7: DecodeMUTF7 never panics; what it accepts re-encodes to a
// spelling that decodes to the same text. The spelling itself may differ only
// where the input holds two shifts side by side ("&000-&000-"), which RFC 3501
// does not forbid and which EncodeMUTF7 writes as one shift.
func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"Entw&APw-rfe", "&ZeVnLIqe-", "a&-b", "&2D3eAA-", "&AGE-", "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := DecodeMUTF7(s)
		if err != nil {
			return
		}
		e, err := EncodeMUTF7(d)
		if err != nil {
			t.Fatalf("DecodeMUTF7(%q) = %q, which does not re-encode: %v", s, d, err)
		}
		if e != s && !adjacentShifts(s) {
			t.Fatalf("DecodeMUTF7(%q) = %q, re-encoded %q", s, d, e)
		}
		if d2, err := DecodeMUTF7(e); err != nil || d2 != d {
			t.Fatalf("DecodeMUTF7(%q) = %q, re-encoded %q, decoded again %q, %v", s, d, e, d2, err)
		}
	})
}

// adjacentShifts reports whether a shift ("&...-", not the literal "&-")
// ends right where another begins.
func adjacentShifts(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return false
		}
		end := i + 1 + j
		if j > 0 && end+2 < len(s) && s[end+1] == '&' && s[end+2] != '-' {
			return true
		}
		i = end
	}
	return false
}
