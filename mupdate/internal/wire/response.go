package wire

import (
	"bufio"
	"strings"
)

// Response kinds.
const (
	KindMailbox = "MAILBOX"
	KindReserve = "RESERVE"
	KindDelete  = "DELETE"
	KindOK      = "OK"
	KindNO      = "NO"
	KindBAD     = "BAD"
	KindBYE     = "BYE"
)

// Response is one server response line (with its literals).
type Response struct {
	Tag  string // "*" for untagged lines
	Kind string // upper-cased keyword: MAILBOX, RESERVE, DELETE, OK, NO, BAD, BYE, AUTH, ...
	// Args holds the strings of MAILBOX (name, location, ACL), RESERVE
	// (name, location) and DELETE (name).
	Args []string
	// Text is the status text of OK/NO/BAD/BYE, decoded when it was a
	// quoted string or literal, raw otherwise; for other untagged lines
	// (banner) it is the raw rest of the line.
	Text string
	// Quoted reports whether Text was one quoted string or literal, as
	// Cyrus clients require for status responses.
	Quoted bool
}

// ResponseDecoder reads server responses on the client side.
type ResponseDecoder struct {
	s scanner
}

// NewResponseDecoder returns a decoder reading from r.
func NewResponseDecoder(r *bufio.Reader, lim Limits) *ResponseDecoder {
	return &ResponseDecoder{s: scanner{r: r, back: -1, lim: lim.withDefaults()}}
}

// ReadLine reads one raw line without its CRLF (SASL challenges).
func (d *ResponseDecoder) ReadLine() (string, error) { return readLine(&d.s) }

// ReadResponse reads one response. Malformed input gives a *ProtocolError
// (the connection should be dropped, as Cyrus's client does).
func (d *ResponseDecoder) ReadResponse() (*Response, error) {
	s := &d.s
	s.used = 0
	tag, ch, err := s.word()
	if err != nil {
		return nil, err
	}
	if ch != ' ' || tag == "" {
		rest, _ := d.rest(ch)
		return nil, &ProtocolError{Line: clip(tag + rest), Msg: "no tag"}
	}
	kw, ch, err := s.word()
	if err != nil {
		return nil, err
	}
	r := &Response{Tag: tag, Kind: canonical(kw)}
	perr := func(msg string, ch int) (*Response, error) {
		rest, err := d.rest(ch)
		if err != nil {
			return nil, err
		}
		return nil, &ProtocolError{Line: clip(tag + " " + kw + rest), Msg: msg}
	}
	nargs := -1
	switch r.Kind {
	case KindMailbox:
		nargs = 3
	case KindReserve:
		nargs = 2
	case KindDelete:
		nargs = 1
	}
	if nargs > 0 {
		r.Args = make([]string, 0, nargs)
		for i := 0; i < nargs; i++ {
			if ch != ' ' {
				return perr("missing "+r.Kind+" argument", ch)
			}
			v, next, ok, err := s.str(false)
			if err != nil {
				return nil, err
			}
			if !ok {
				return perr("bad "+r.Kind+" argument", chFail)
			}
			r.Args = append(r.Args, v)
			ch = next
		}
		end, err := s.crlf(ch)
		if err != nil {
			return nil, err
		}
		if !end {
			if ch == '\r' {
				ch = chFail
			}
			return perr("extra data after "+r.Kind, ch)
		}
		return r, nil
	}
	switch r.Kind {
	case KindOK, KindNO, KindBAD, KindBYE:
		if tag != "*" || r.Kind != KindOK {
			if ch == ' ' {
				c, err := s.getc()
				if err != nil {
					return nil, err
				}
				s.ungetc(c)
				if c == '"' || c == '{' {
					v, next, ok, err := s.str(false)
					if err != nil {
						return nil, err
					}
					if ok {
						end, err := s.crlf(next)
						if err != nil {
							return nil, err
						}
						if end {
							r.Text, r.Quoted = v, true
							return r, nil
						}
						if next == '\r' {
							next = chFail
						}
						// Not a single string: keep the raw remainder.
						rest, err := d.rest(next)
						if err != nil {
							return nil, err
						}
						r.Text = v + rest
						return r, nil
					}
					ch = chFail
				}
			}
		}
	}
	rest, err := d.rest(ch)
	if err != nil {
		return nil, err
	}
	r.Text = strings.TrimPrefix(rest, " ")
	return r, nil
}

// rest returns the remainder of the line from terminator ch on, without
// CRLF.
func (d *ResponseDecoder) rest(ch int) (string, error) {
	s := &d.s
	var b []byte
	if ch == chFail {
		c, err := s.getc()
		if err != nil {
			return "", err
		}
		ch = c
	}
	for {
		if ch == '\n' {
			if n := len(b); n > 0 && b[n-1] == '\r' {
				b = b[:n-1]
			}
			return string(b), nil
		}
		if len(b) >= s.lim.MaxString {
			return "", &TooBigError{What: "line", Size: int64(len(b) + 1), Limit: s.lim.MaxString}
		}
		b = append(b, byte(ch))
		c, err := s.getc()
		if err != nil {
			return "", unexpected(err)
		}
		ch = c
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
