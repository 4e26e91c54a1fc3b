package mboxlist

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestJSONDecodeErrors(t *testing.T) {
	cases := []struct {
		name, in string
		line     int
		off      int64
	}{
		{"bad utf8", "{\n\"user.a\": {\"mbtype\": \"e\"},\n\"user.\xff\": {}}", 3, 35},
		{"number", "{\n\"a\": {\"uidvalidity\": 5}\n}", 2, 0},
		{"range", "{\n\"a\": {\"uidvalidity\": \"4294967296\"}\n}", 2, 0},
		{"mbtype", "{\n\"a\": {\"mbtype\": \"eq\"}\n}", 2, 0},
		{"truncated", "{\n\"a\": {}", 0, 0},
		{"trailing", "{}\n}", 0, 0},
		{"not object", "[]", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := NewJSONDecoder(strings.NewReader(tc.in))
			for d.Next() {
			}
			var de *DumpError
			if !errors.As(d.Err(), &de) {
				t.Fatalf("err = %v", d.Err())
			}
			if tc.line != 0 && de.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", de.Line, tc.line, de)
			}
			if tc.off != 0 && de.Offset != tc.off {
				t.Errorf("offset %d, want %d (%v)", de.Offset, tc.off, de)
			}
		})
	}
	// a name split across reads still decodes
	in := jsonDumpF([]Entry{{Name: "user.fred.Entwürfe", Partition: "p", ACL: acl("jürgen", "lr")}})
	d := NewJSONDecoder(&oneByteReader{r: bytes.NewReader(in)})
	if !d.Next() || d.Entry().Name != "user.fred.Entwürfe" || d.Next() || d.Err() != nil {
		t.Fatalf("one-byte reads: %v", d.Err())
	}
}

type oneByteReader struct{ r *bytes.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}
