package shadow_test

import (
	"bytes"
	"testing"

	"github.com/murderkit/murderkit/shadow"
)

// FuzzDecodeMUTF7: never a panic; whatever decodes re-encodes canonically
// to a form that decodes to the same text.
func FuzzDecodeMUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "&AOk-t&AOk-", "&-", "&ZeVnLIqe-", "&2D3eAA-", "&", "&A-", "a&b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := shadow.DecodeMUTF7(s)
		if err != nil {
			return
		}
		e := shadow.EncodeMUTF7(d)
		d2, err := shadow.DecodeMUTF7(e)
		if err != nil || d2 != d {
			t.Fatalf("%q decodes to %q, re-encodes to %q, which decodes to %q, %v", s, d, e, d2, err)
		}
	})
}

// FuzzReadResults: never a panic on a damaged resume file.
func FuzzReadResults(f *testing.F) {
	f.Add([]byte(`{"user":"a","status":"equal"}` + "\n" + `{"user":"b","status":"different","differences":[{"kind":"only_old","name":"x"}]}` + "\n"))
	f.Add([]byte("garbage\n{\"user\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		shadow.ReadResults(bytes.NewReader(b))
	})
}
