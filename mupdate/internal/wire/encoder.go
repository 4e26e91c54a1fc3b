package wire

import (
	"bufio"
	"strconv"
	"strings"

	"github.com/murderkit/murderkit/mupdate"
)

// Encoder writes protocol lines exactly as Cyrus 3.6.1 prints them. Errors
// are sticky and reported by Flush (and Err).
type Encoder struct {
	w   *bufio.Writer
	err error
	num [20]byte
}

// NewEncoder returns an encoder writing to w.
func NewEncoder(w *bufio.Writer) *Encoder { return &Encoder{w: w} }

// Err returns the first write error.
func (e *Encoder) Err() error { return e.err }

// Flush flushes the buffer and returns the first error.
func (e *Encoder) Flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// Buffered returns the number of bytes waiting to be flushed.
func (e *Encoder) Buffered() int { return e.w.Buffered() }

func (e *Encoder) str(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *Encoder) byte(c byte) {
	if e.err == nil {
		e.err = e.w.WriteByte(c)
	}
}

// literal writes `{n+}\r\n` followed by s (what Cyrus sends for every data
// field, and what Cyrus clients send for every argument).
func (e *Encoder) literal(s string) {
	e.byte('{')
	if e.err == nil {
		_, e.err = e.w.Write(strconv.AppendInt(e.num[:0], int64(len(s)), 10))
	}
	e.str("+}\r\n")
	e.str(s)
}

// quoted writes s as a quoted string, or as a literal when it holds CR or
// LF (which cannot be quoted).
func (e *Encoder) quoted(s string) {
	if strings.ContainsAny(s, "\r\n\x00") {
		e.literal(s)
		return
	}
	e.byte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			e.byte('\\')
		}
		e.byte(s[i])
	}
	e.byte('"')
}

// Mailbox writes `tag MAILBOX {n+}\r\nname {n+}\r\nloc {n+}\r\nacl\r\n` for
// an active mailbox and `tag RESERVE {n+}\r\nname {n+}\r\nloc\r\n` for a
// reserved one (never with an ACL, as Cyrus).
func (e *Encoder) Mailbox(tag string, m mupdate.Mailbox) {
	e.str(tag)
	if m.State == mupdate.Reserved {
		e.str(" RESERVE ")
		e.literal(m.Name)
		e.byte(' ')
		e.literal(m.Location)
	} else {
		e.str(" MAILBOX ")
		e.literal(m.Name)
		e.byte(' ')
		e.literal(m.Location)
		e.byte(' ')
		e.literal(m.ACL)
	}
	e.str("\r\n")
}

// Delete writes `tag DELETE {n+}\r\nname\r\n`.
func (e *Encoder) Delete(tag, name string) {
	e.str(tag)
	e.str(" DELETE ")
	e.literal(name)
	e.str("\r\n")
}

// Status writes `tag KIND "text"\r\n` (KIND is OK, NO, BAD or BYE; tag "*"
// for untagged).
func (e *Encoder) Status(tag, kind, text string) {
	e.str(tag)
	e.byte(' ')
	e.str(kind)
	e.byte(' ')
	e.quoted(text)
	e.str("\r\n")
}

// StatusRaw writes `tag KIND text\r\n` with the text unquoted, for the few
// replies Cyrus words that way ("NO Client canceled authentication",
// "OK Begin TLS negotiation now"). text must not contain CR or LF.
func (e *Encoder) StatusRaw(tag, kind, text string) {
	e.str(tag)
	e.byte(' ')
	e.str(kind)
	e.byte(' ')
	e.str(text)
	e.str("\r\n")
}

// Line writes a raw line and CRLF (banner lines, SASL challenges).
func (e *Encoder) Line(s string) {
	e.str(s)
	e.str("\r\n")
}

// GoAhead writes the continuation for a synchronizing literal.
func (e *Encoder) GoAhead() { e.str("+ go ahead\r\n") }

// Banner describes the capability banner.
type Banner struct {
	Mechanisms []string // SASL mechanisms, in preference order
	StartTLS   bool
	ServerName string
	Impl       string // "Cyrus IMAP" for Cyrus
	Version    string
	// Master is "(master)" for a master; a slave sends "mupdate://host".
	Master string
}

// WriteBanner writes the banner as Cyrus's dobanner does:
//
//   - AUTH "M1" "M2"
//   - STARTTLS                      (when offered)
//   - PARTIAL-UPDATE
//   - OK MUPDATE "host" "impl" "version" "(master)"
//
// (We never offer COMPRESS; Cyrus clients cannot detect it anyway.)
func (e *Encoder) WriteBanner(b Banner) {
	e.str("* AUTH")
	for _, m := range b.Mechanisms {
		e.byte(' ')
		e.quoted(m)
	}
	e.str("\r\n")
	if b.StartTLS {
		e.str("* STARTTLS\r\n")
	}
	e.str("* PARTIAL-UPDATE\r\n")
	e.str("* OK MUPDATE ")
	e.quoted(b.ServerName)
	e.byte(' ')
	e.quoted(b.Impl)
	e.byte(' ')
	e.quoted(b.Version)
	e.byte(' ')
	e.quoted(b.Master)
	e.str("\r\n")
}

// Command writes a client command with every argument as a `{n+}` literal,
// exactly as Cyrus's client library does (`X1 FIND {10+}\r\nuser.alice\r\n`).
func (e *Encoder) Command(tag, name string, args ...string) {
	e.str(tag)
	e.byte(' ')
	e.str(name)
	for _, a := range args {
		e.byte(' ')
		e.literal(a)
	}
	e.str("\r\n")
}

// CommandQuoted writes a command with quoted arguments (what people type;
// used by tests and tools). Arguments holding CR/LF become literals.
func (e *Encoder) CommandQuoted(tag, name string, args ...string) {
	e.str(tag)
	e.byte(' ')
	e.str(name)
	for _, a := range args {
		e.byte(' ')
		e.quoted(a)
	}
	e.str("\r\n")
}
