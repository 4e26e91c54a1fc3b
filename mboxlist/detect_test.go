package mboxlist

import "testing"

func TestDetector(t *testing.T) {
	cases := []struct {
		name string
		kvs  []KV
		want Version
	}{
		{"empty", nil, V36},
		{"2.4", []KV{{[]byte("user.a"), []byte("0 p a\tl\t")}}, V24},
		{"2.5", []KV{{[]byte("user.a"), []byte("%(P p M 1)")}}, V25},
		{"3.0 F", []KV{{[]byte("user.a"), []byte("%(P p F 3 M 1)")}}, V30},
		{"3.2 C", []KV{{[]byte("user.a"), []byte("%(P p C 3 M 1)")}}, V32},
		{"3.2 i", []KV{{[]byte("user.a"), []byte("%(P p T i M 1)")}}, V32},
		{"3.4 racl", []KV{{[]byte("$RACL"), []byte("2")}, {[]byte("user.a"), []byte("%(P p M 1)")}}, V34},
		{"3.4 runq", []KV{{[]byte("$RUNQ"), []byte("1")}}, V34},
		{"3.6 marker", []KV{{[]byte("AS\x1e"), nil}}, V36},
		{"3.6 N", []KV{{[]byte("Nuser\x1fa"), []byte("%(T e P p M 1)")}}, V36},
		{"legacy N name", []KV{{[]byte("Nshared"), []byte("%(P p M 1)")}}, V25},
		{"I without N", []KV{{[]byte("Ishared"), []byte("%(P p M 1)")}}, V25},
	}
	for _, tc := range cases {
		var d Detector
		for _, kv := range tc.kvs {
			d.Add(kv.Key, kv.Value)
		}
		if got := d.Version(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
