package shadow

import (
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
)

// EncodeMUTF7 encodes a UTF-8 mailbox name in IMAP modified UTF-7, the
// canonical way (as Cyrus stores and sends names). Invalid UTF-8 (which
// go-imap never hands us) is first replaced by U+FFFD, so the result is
// always a name.
func EncodeMUTF7(s string) string {
	e, err := mboxlist.EncodeMUTF7(strings.ToValidUTF8(s, "\uFFFD"))
	if err != nil {
		// unreachable: the input is valid UTF-8
		return s
	}
	return e
}

// DecodeMUTF7 decodes a modified UTF-7 name to UTF-8 for people to read.
func DecodeMUTF7(s string) (string, error) { return mboxlist.DecodeMUTF7(s) }

// humanName decodes a name for a report, falling back to the raw name.
func humanName(s string) string {
	if d, err := DecodeMUTF7(s); err == nil {
		return d
	}
	return s
}
