package mboxlist

import "testing"

func TestMUTF7(t *testing.T) {
	cases := []struct{ enc, dec string }{
		{"Entw&APw-rfe", "Entwürfe"},
		{"&ZeVnLIqe-", "日本語"},
		{"a&-b", "a&b"},
		{"&2D3eAA-", "😀"},
	}
	for _, tc := range cases {
		d, err := DecodeMUTF7(tc.enc)
		if err != nil || d != tc.dec {
			t.Errorf("DecodeMUTF7(%q) = %q, %v, want %q", tc.enc, d, err, tc.dec)
		}
		e, err := EncodeMUTF7(tc.dec)
		if err != nil || e != tc.enc {
			t.Errorf("EncodeMUTF7(%q) = %q, %v, want %q", tc.dec, e, err, tc.enc)
		}
	}
	for _, bad := range []string{"&AGE-", "&Jjo", "&Jj-", "caf\xc3\xa9", "&2D0-"} {
		if _, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("DecodeMUTF7(%q) accepted", bad)
		}
	}
}
