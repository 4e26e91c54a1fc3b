package shadow_test

import (
	"testing"

	"github.com/murderkit/murderkit/shadow"
)

func TestMUTF7(t *testing.T) {
	tests := []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"été", "&AOk-t&AOk-"},
		{"a&b", "a&-b"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"😀", "&2D3eAA-"},
	}
	for _, tc := range tests {
		if got := shadow.EncodeMUTF7(tc.utf8); got != tc.mutf7 {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", tc.utf8, got, tc.mutf7)
		}
		if got, err := shadow.DecodeMUTF7(tc.mutf7); err != nil || got != tc.utf8 {
			t.Errorf("DecodeMUTF7(%q) = %q, %v, want %q", tc.mutf7, got, err, tc.utf8)
		}
	}
	for _, bad := range []string{"&", "&AOk", "&A-", "\x01", "&*-"} {
		if _, err := shadow.DecodeMUTF7(bad); err == nil {
			t.Errorf("DecodeMUTF7(%q) succeeded", bad)
		}
	}
}
