package mboxlist

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3): mailbox names are stored in it; the
// package keeps keys byte-exact and decodes only for display.

var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// DecodeMUTF7 decodes a modified UTF-7 string to UTF-8. It rejects what RFC
// 3501 forbids: non-ASCII bytes, an unterminated or empty shift, bad base64,
// odd UTF-16 lengths, broken surrogates, and shifted printable ASCII.
func DecodeMUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%w: modified UTF-7 byte %d: %#02x is not printable ASCII", ErrSyntax, i, c)
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", fmt.Errorf("%w: modified UTF-7 byte %d: unterminated shift", ErrSyntax, i)
		}
		enc := s[i+1 : i+1+j]
		if enc == "" {
			b.WriteByte('&')
			i++
			continue
		}
		// encoding/base64 skips \r and \n; modified UTF-7 allows only its
		// own 64 letters between '&' and '-'.
		if k := strings.IndexFunc(enc, notMUTF7Base64); k >= 0 {
			return "", fmt.Errorf("%w: modified UTF-7 byte %d: %#02x is not a modified base64 letter", ErrSyntax, i+1+k, enc[k])
		}
		raw, err := mutf7.Strict().DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", fmt.Errorf("%w: modified UTF-7 byte %d: bad base64 %q", ErrSyntax, i, enc)
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for k := 0; k < len(u); k++ {
			r := rune(u[k])
			if utf16.IsSurrogate(r) {
				if k+1 >= len(u) {
					return "", fmt.Errorf("%w: modified UTF-7 byte %d: broken surrogate", ErrSyntax, i)
				}
				r = utf16.DecodeRune(r, rune(u[k+1]))
				if r == utf8.RuneError {
					return "", fmt.Errorf("%w: modified UTF-7 byte %d: broken surrogate", ErrSyntax, i)
				}
				k++
			} else if r >= 0x20 && r <= 0x7e {
				return "", fmt.Errorf("%w: modified UTF-7 byte %d: shifted ASCII %q", ErrSyntax, i, r)
			}
			b.WriteRune(r)
		}
		i += j + 1
	}
	return b.String(), nil
}

// EncodeMUTF7 encodes UTF-8 text as modified UTF-7. Invalid UTF-8 is an error.
func EncodeMUTF7(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("mboxlist: modified UTF-7: input is not valid UTF-8")
	}
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		raw := make([]byte, 2*len(u))
		for k, x := range u {
			raw[2*k], raw[2*k+1] = byte(x>>8), byte(x)
		}
		b.WriteByte('&')
		b.WriteString(mutf7.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		run = append(run, r)
	}
	flush()
	return b.String(), nil
}

func notMUTF7Base64(r rune) bool {
	return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '+' || r == ',')
}
