package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits bound what one peer can make us hold in memory. The zero value of
// a field means its default.
type Limits struct {
	// MaxWord bounds a tag or command word (default 1024 bytes).
	MaxWord int
	// MaxString bounds one quoted string or literal (default 256 KiB).
	MaxString int
	// MaxCommand bounds the total argument bytes of one command or
	// response (default 1 MiB).
	MaxCommand int
}

// Default limits.
const (
	DefaultMaxWord    = 1024
	DefaultMaxString  = 256 << 10
	DefaultMaxCommand = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxWord <= 0 {
		l.MaxWord = DefaultMaxWord
	}
	if l.MaxString <= 0 {
		l.MaxString = DefaultMaxString
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = DefaultMaxCommand
	}
	return l
}

// TooBigError reports input over a Limit. The connection cannot be
// resynchronised after it: a server answers `* BYE` and closes, as Cyrus's
// fatal "[TOOBIG]" does.
type TooBigError struct {
	What  string // "word", "string", "literal", "command"
	Size  int64  // the announced or reached size
	Limit int
}

func (e *TooBigError) Error() string {
	return fmt.Sprintf("mupdate/wire: %s of %d bytes exceeds the limit of %d", e.What, e.Size, e.Limit)
}

// ProtocolError reports a response line a client cannot parse, naming it.
type ProtocolError struct {
	Line string // what was read of the offending line (truncated)
	Msg  string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("mupdate/wire: protocol error: %s in line %q", e.Msg, e.Line)
}

// Pseudo characters of the scanner.
const (
	chFail = -2 // a string was not where one was expected (Cyrus returns EOF)
)

// scanner is a byte reader with one byte of push-back and Cyrus's
// getword/getstring/eatline primitives.
type scanner struct {
	r      *bufio.Reader
	back   int // pushed-back byte or -1
	lim    Limits
	used   int // argument bytes of the current command
	cont   func() error
	lineSB strings.Builder
}

func (s *scanner) getc() (int, error) {
	if s.back >= 0 {
		c := s.back
		s.back = -1
		return c, nil
	}
	b, err := s.r.ReadByte()
	if err != nil {
		return 0, err
	}
	return int(b), nil
}

func (s *scanner) ungetc(c int) {
	if c >= 0 {
		s.back = c
	}
}

func isSpace(c int) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// word reads bytes up to whitespace, '(', ')' or '"' (Cyrus getword) and
// returns them with the terminating byte.
func (s *scanner) word() (string, int, error) {
	// Fast path: the whole word is in the read buffer.
	if s.back < 0 {
		if buf, _ := s.r.Peek(s.r.Buffered()); len(buf) > 0 {
			for i, c := range buf {
				if i >= s.lim.MaxWord {
					break
				}
				if isSpace(int(c)) || c == '(' || c == ')' || c == '"' {
					w := string(buf[:i])
					s.r.Discard(i + 1)
					return w, int(c), nil
				}
			}
		}
	}
	var b []byte
	for {
		c, err := s.getc()
		if err != nil {
			return string(b), 0, err
		}
		if isSpace(c) || c == '(' || c == ')' || c == '"' {
			return string(b), c, nil
		}
		if len(b) >= s.lim.MaxWord {
			return "", 0, &TooBigError{What: "word", Size: int64(len(b) + 1), Limit: s.lim.MaxWord}
		}
		b = append(b, byte(c))
	}
}

func (s *scanner) charge(n int64) error {
	if n > int64(s.lim.MaxString) {
		return &TooBigError{What: "string", Size: n, Limit: s.lim.MaxString}
	}
	if int64(s.used)+n > int64(s.lim.MaxCommand) {
		return &TooBigError{What: "command", Size: int64(s.used) + n, Limit: s.lim.MaxCommand}
	}
	s.used += int(n)
	return nil
}

// str reads a quoted string or a literal (Cyrus getstring, with LITERAL+
// accepted). On success it returns the string and the byte after it; when
// no valid string starts here it returns ok=false with the offending byte
// pushed back (the caller then sees chFail, as Cyrus sees EOF). If atoms is
// set, a bare atom is accepted too (used where we are deliberately liberal).
func (s *scanner) str(atoms bool) (val string, next int, ok bool, err error) {
	c, err := s.getc()
	if err != nil {
		return "", 0, false, err
	}
	switch c {
	case ' ', '(', ')', '\r', '\n':
		s.ungetc(c)
		return "", chFail, false, nil
	case '"':
		var b []byte
		bad := false
		for {
			c, err := s.getc()
			if err != nil {
				return "", 0, false, err
			}
			if c == '\\' {
				if c, err = s.getc(); err != nil {
					return "", 0, false, err
				}
			} else if c == '"' {
				next, err := s.getc()
				if err != nil {
					return "", 0, false, err
				}
				if bad {
					// A NUL inside a quoted string: Cyrus would silently
					// truncate there; we refuse the argument.
					s.ungetc(next)
					return "", chFail, false, nil
				}
				return string(b), next, true, nil
			} else if c == '\r' || c == '\n' {
				s.ungetc(c)
				return "", chFail, false, nil
			}
			if c == 0 {
				bad = true
			}
			if len(b) >= s.lim.MaxString {
				return "", 0, false, &TooBigError{What: "string", Size: int64(len(b) + 1), Limit: s.lim.MaxString}
			}
			if err := s.charge(1); err != nil {
				return "", 0, false, err
			}
			b = append(b, byte(c))
		}
	case '{':
		var n int64
		digits := 0
		for {
			if c, err = s.getc(); err != nil {
				return "", 0, false, err
			}
			if c < '0' || c > '9' {
				break
			}
			digits++
			n = n*10 + int64(c-'0')
			if n > int64(s.lim.MaxString) {
				return "", 0, false, &TooBigError{What: "literal", Size: n, Limit: s.lim.MaxString}
			}
		}
		if digits == 0 {
			s.ungetc(c)
			return "", chFail, false, nil
		}
		sync := true
		if c == '+' {
			sync = false
			if c, err = s.getc(); err != nil {
				return "", 0, false, err
			}
		}
		for _, want := range []int{'}', '\r', '\n'} {
			if c != want {
				s.ungetc(c)
				return "", chFail, false, nil
			}
			if want != '\n' {
				if c, err = s.getc(); err != nil {
					return "", 0, false, err
				}
			}
		}
		if err := s.charge(n); err != nil {
			return "", 0, false, err
		}
		if sync && s.cont != nil {
			if err := s.cont(); err != nil {
				return "", 0, false, err
			}
		}
		var sb strings.Builder
		sb.Grow(int(n))
		rem := int(n)
		if s.back >= 0 && rem > 0 {
			sb.WriteByte(byte(s.back))
			s.back = -1
			rem--
		}
		for rem > 0 {
			chunk, err := s.r.Peek(min(rem, max(s.r.Buffered(), 1)))
			if len(chunk) == 0 && err != nil {
				return "", 0, false, unexpected(err)
			}
			sb.Write(chunk)
			s.r.Discard(len(chunk))
			rem -= len(chunk)
		}
		next, err := s.getc()
		if err != nil {
			return "", 0, false, err
		}
		val := sb.String()
		if strings.IndexByte(val, 0) >= 0 { // Cyrus refuses a literal holding NUL
			s.ungetc(next)
			return "", chFail, false, nil
		}
		return val, next, true, nil
	default:
		if !atoms {
			s.ungetc(c)
			return "", chFail, false, nil
		}
		s.ungetc(c)
		w, next, err := s.word()
		if err != nil {
			return "", 0, false, err
		}
		return w, next, true, nil
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// crlf implements Cyrus's CHECKNEWLINE: true when c (and the byte after a
// CR) end the line.
func (s *scanner) crlf(c int) (bool, error) {
	if c == '\r' {
		var err error
		if c, err = s.getc(); err != nil {
			return false, err
		}
		if c != '\n' {
			s.ungetc(c)
			return false, nil
		}
	}
	return c == '\n', nil
}

// eatLine skips to the end of the line like Cyrus's eatline: including a
// newline already read as c, and skipping `{n+}` literals on the way.
func (s *scanner) eatLine(c int) error {
	var err error
	if c == chFail {
		if c, err = s.getc(); err != nil {
			return err
		}
	}
	for {
		if c == '\n' {
			return nil
		}
		if c == '{' {
			if c, err = s.getc(); err != nil {
				return err
			}
			var n int64
			for c >= '0' && c <= '9' {
				n = n*10 + int64(c-'0')
				if n > int64(s.lim.MaxString) {
					return &TooBigError{What: "literal", Size: n, Limit: s.lim.MaxString}
				}
				if c, err = s.getc(); err != nil {
					return err
				}
			}
			if c != '+' {
				continue
			}
			if c, err = s.getc(); err != nil {
				return err
			}
			if c != '}' {
				continue
			}
			if c, err = s.getc(); err != nil {
				return err
			}
			if c == '\r' {
				if c, err = s.getc(); err != nil {
					return err
				}
			}
			if c != '\n' {
				continue
			}
			if s.back >= 0 && n > 0 {
				s.back = -1
				n--
			}
			if _, err := s.r.Discard(int(n)); err != nil {
				return unexpected(err)
			}
		}
		if c, err = s.getc(); err != nil {
			return err
		}
	}
}
