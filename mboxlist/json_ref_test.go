package mboxlist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// refJSONDecode is a reference reader of JSON dumps built on
// encoding/json (which matches member names case-insensitively and turns
// invalid UTF-8 into U+FFFD: fine for the inputs it is compared on).
func refJSONDecode(in []byte) ([]Entry, error) {
	d := json.NewDecoder(bytes.NewReader(in))
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var out []Entry
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		name := t.(string)
		var raw map[string]json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, err
		}
		var je jsonEntry
		str := func(k string) (*string, error) {
			r, ok := raw[k]
			if !ok || string(r) == "null" {
				return nil, nil
			}
			var s string
			if err := json.Unmarshal(r, &s); err != nil {
				return nil, err
			}
			return &s, nil
		}
		fields := []struct {
			k string
			p **string
		}{{"name", &je.Name}, {"mtime", &je.Mtime}, {"uidvalidity", &je.UIDValidity}, {"createdmodseq", &je.CreatedModseq},
			{"foldermodseq", &je.FolderModseq}, {"mbtype", &je.MBType}, {"partition", &je.Partition}, {"server", &je.Server},
			{"uniqueid", &je.UniqueID}, {"legacy_specialuse", &je.LegacySpecialUse}}
		for _, f := range fields {
			if *f.p, err = str(f.k); err != nil {
				return nil, err
			}
		}
		if r, ok := raw["acl"]; ok && string(r) != "null" {
			je.HasACL = true
			je.ACL = ACL{}
			ad := json.NewDecoder(bytes.NewReader(r))
			if t, err := ad.Token(); err != nil || t != json.Delim('{') {
				return nil, fmt.Errorf("acl: %v", err)
			}
			for ad.More() {
				k, _ := ad.Token()
				v, err := ad.Token()
				if err != nil {
					return nil, err
				}
				vs, ok := v.(string)
				if !ok {
					return nil, errors.New("rights not a string")
				}
				je.ACL = append(je.ACL, ACLItem{ID: k.(string), Rights: vs})
			}
		}
		if r, ok := raw["name_history"]; ok && string(r) != "null" {
			var items []map[string]json.RawMessage
			if err := json.Unmarshal(r, &items); err != nil {
				return nil, err
			}
			for _, it := range items {
				var h jsonHist
				for k, p := range map[string]**string{"name": &h.Name, "mtime": &h.Mtime, "uidvalidity": &h.UIDValidity, "createdmodseq": &h.CreatedModseq,
					"foldermodseq": &h.FolderModseq, "mbtype": &h.MBType, "partition": &h.Partition} {
					if r, ok := it[k]; ok && string(r) != "null" {
						var s string
						if err := json.Unmarshal(r, &s); err != nil {
							return nil, err
						}
						*p = &s
					}
				}
				je.NameHistory = append(je.NameHistory, h)
			}
		}
		e, what := je.entry(name)
		if what != "" {
			return nil, errors.New(what)
		}
		out = append(out, e)
	}
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeJSONAll(in []byte) ([]Entry, error) {
	d := NewJSONDecoder(bytes.NewReader(in))
	var out []Entry
	for d.Next() {
		out = append(out, *d.Entry())
	}
	return out, d.Err()
}

func TestJSONScannerMatchesReference(t *testing.T) {
	inputs := []string{
		string(jsonDumpF(corpus())),
		`{}`,
		` { "a" : { "mbtype" : "er" , "partition" : "p\/q" , "server":null, "acl" : { "x" : "lr" , "y\u00e9" : "l" } , "extra": [1, -2.5e3, true, false, null, {"z": [ ]}], "name_history" : [ null, {"name": "b\ud83d\ude00", "mtime": "-7", "junk": {}} ] } , "c": {"acl": null, "name_history": null}}`,
		"{\"a\\tb\": {\"uniqueid\": \"\\\"q\\\\\", \"uidvalidity\": \"4294967295\", \"createdmodseq\": \"18446744073709551615\"}}",
	}
	for i, in := range inputs {
		want, err := refJSONDecode([]byte(in))
		if err != nil {
			t.Fatalf("input %d: reference: %v", i, err)
		}
		got, err := decodeJSONAll([]byte(in))
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("input %d (-reference +ours):\n%s", i, d)
		}
		for _, r := range []io.Reader{iotest.OneByteReader(strings.NewReader(in)), iotest.DataErrReader(strings.NewReader(in)), iotest.HalfReader(strings.NewReader(in))} {
			d := NewJSONDecoder(r)
			var small []Entry
			for d.Next() {
				small = append(small, *d.Entry())
			}
			if d.Err() != nil {
				t.Fatalf("input %d, %T: %v", i, r, d.Err())
			}
			if diff := cmp.Diff(want, small); diff != "" {
				t.Errorf("input %d, %T:\n%s", i, r, diff)
			}
		}
	}
	bad := []string{`{"a": {"uidvalidity": 5}}`, `{"a": {"acl": {"x": 1}}}`, `{"a": {}`, `{"a": {}} x`, `{"a": {"x": tru}}`,
		`{"a": {"x": 01}}`, `{"a": {"x": "\q"}}`, "{\"a\": {\"x\": \"\x01\"}}", `{"a": {"x": "\ud800"}}`, `{"a": [] }`, `{"a": {"name_history": {}}}`,
		`{"a": {"x": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`}
	for _, in := range bad {
		if _, err := decodeJSONAll([]byte(in)); err == nil {
			t.Errorf("accepted %q", in)
		} else {
			var de *DumpError
			if !errors.As(err, &de) {
				t.Errorf("%q: %T %v", in, err, err)
			}
		}
	}
}
