package mboxlist

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// lineWindow is how far back (bytes) line numbers stay known.
const lineWindow = 1 << 20

// utf8Reader passes bytes through and fails at the first byte that is not
// valid UTF-8 (jansson, which reads Cyrus's dumps, rejects such input;
// encoding/json would silently turn it into U+FFFD). It also remembers
// where recent lines start so errors can name a line.
type utf8Reader struct {
	r       io.Reader
	carry   []byte  // an incomplete sequence at the end of the last read
	off     int64   // bytes returned so far
	nl      []int64 // offsets of recent LFs
	dropped int     // LFs forgotten from nl
	err     error
}

func (u *utf8Reader) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	k := copy(p, u.carry)
	u.carry = append(u.carry[:0], u.carry[k:]...)
	var n int
	var err error
	if k < len(p) {
		n, err = u.r.Read(p[k:])
	}
	buf := p[:k+n]
	i := 0
	for i < len(buf) {
		c := buf[i]
		if c < utf8.RuneSelf {
			if c == '\n' {
				u.nl = append(u.nl, u.off+int64(i))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(buf[i:])
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(buf[i:]) && err == nil && len(u.carry) == 0 {
				u.carry = append(u.carry, buf[i:]...)
				buf = buf[:i]
				break
			}
			at := u.off + int64(i)
			u.err = &DumpError{Offset: at, Line: u.line(at), What: fmt.Sprintf("byte %#02x is not valid UTF-8", c), Err: ErrSyntax}
			u.off = at
			return i, u.err
		}
		i += size
	}
	u.off += int64(len(buf))
	if len(u.nl) > 4096 && u.nl[0] < u.off-lineWindow {
		cut := 0
		for cut < len(u.nl) && u.nl[cut] < u.off-lineWindow {
			cut++
		}
		u.dropped += cut
		u.nl = append(u.nl[:0], u.nl[cut:]...)
	}
	if err == io.EOF && len(u.carry) > 0 {
		u.err = &DumpError{Offset: u.off, Line: u.line(u.off), What: "truncated UTF-8 sequence at the end", Err: ErrSyntax}
		return len(buf), u.err
	}
	return len(buf), err
}

// line is the 1-based line number of an offset already read, 0 when it is
// too far back to know.
func (u *utf8Reader) line(off int64) int {
	if u.dropped > 0 && len(u.nl) > 0 && off < u.nl[0] {
		return 0
	}
	lo, hi := 0, len(u.nl)
	for lo < hi {
		m := (lo + hi) / 2
		if u.nl[m] < off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return u.dropped + lo + 1
}
