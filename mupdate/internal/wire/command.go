package wire

import (
	"bufio"
	"io"
)

// Command names, canonical upper case.
const (
	CmdActivate     = "ACTIVATE"
	CmdAuthenticate = "AUTHENTICATE"
	CmdDeactivate   = "DEACTIVATE"
	CmdDelete       = "DELETE"
	CmdFind         = "FIND"
	CmdList         = "LIST"
	CmdLogout       = "LOGOUT"
	CmdNoop         = "NOOP"
	CmdReserve      = "RESERVE"
	CmdStartTLS     = "STARTTLS"
	CmdUpdate       = "UPDATE"
)

// BAD texts exactly as Cyrus 3.6.1's mupdate prints them.
const (
	TextNeedCommand     = "Need command"
	TextNullCommand     = "Null command"
	TextUnrecognized    = "Unrecognized command"
	TextExtraArgs       = "Extra arguments"
	TextMissingArgs     = "Missing arguments"
	TextBadlyFormedArgs = "Badly formed arguments"
	TextPleaseLogin     = "Please login first"
)

// MaxUpdateHosts is how many server names a PARTIAL-UPDATE may carry
// (Cyrus counts 30 and refuses the 31st with "Extra arguments").
const MaxUpdateHosts = 30

// Command is one parsed client command.
type Command struct {
	Tag  string
	Name string // canonical, e.g. CmdFind
	// Args are the decoded string arguments. For AUTHENTICATE, Args[0] is
	// the mechanism and Args[1], when present, the initial response as
	// sent (base64, or "=" for an empty one).
	Args []string
}

// BadCommand is a command the server answers with BAD; the offending line
// has been consumed. Untagged means the answer is `* BAD` (no tag could be
// read).
type BadCommand struct {
	Tag      string
	Text     string
	Untagged bool
}

func (e *BadCommand) Error() string { return "mupdate/wire: BAD " + e.Text }

// ServerState is what the command grammar depends on, as in Cyrus:
// before authentication only AUTHENTICATE, LOGOUT (and STARTTLS when
// offered) are parsed; other known initials get "Please login first".
type ServerState struct {
	Authenticated bool
	StartTLS      bool // STARTTLS is offered (a TLS config is present)
}

// CommandDecoder reads client commands on the server side.
type CommandDecoder struct {
	s scanner
}

// NewCommandDecoder returns a decoder reading from r. goAhead is called
// (and must write and flush "+ go ahead\r\n") when a client sends a
// synchronizing literal {n}.
func NewCommandDecoder(r *bufio.Reader, lim Limits, goAhead func() error) *CommandDecoder {
	return &CommandDecoder{s: scanner{r: r, back: -1, lim: lim.withDefaults(), cont: goAhead}}
}

// Buffered reports whether input is waiting (pipelined commands).
func (d *CommandDecoder) Buffered() bool { return d.s.back >= 0 || d.s.r.Buffered() > 0 }

// ReadLine reads one raw line (without CRLF) of at most MaxString bytes:
// used for SASL responses, which are bare base64 lines.
func (d *CommandDecoder) ReadLine() (string, error) {
	return readLine(&d.s)
}

func readLine(s *scanner) (string, error) {
	var b []byte
	for {
		c, err := s.getc()
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if c == '\n' {
			if n := len(b); n > 0 && b[n-1] == '\r' {
				b = b[:n-1]
			}
			return string(b), nil
		}
		if len(b) >= s.lim.MaxString {
			return "", &TooBigError{What: "line", Size: int64(len(b) + 1), Limit: s.lim.MaxString}
		}
		b = append(b, byte(c))
	}
}

// canonical maps a command word to its canonical name the way Cyrus does
// (first letter upper, rest lower, then an exact compare), so any case
// works.
func canonical(w string) string {
	lower := false
	for i := 0; i < len(w); i++ {
		if 'a' <= w[i] && w[i] <= 'z' {
			lower = true
			break
		}
	}
	if !lower {
		return w
	}
	b := []byte(w)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// ReadCommand reads the next command. It returns a *Command; a *BadCommand
// (answer BAD, the line is consumed, keep reading); a *TooBigError (answer
// `* BYE` and close); or an I/O error (io.EOF at a clean end).
func (d *CommandDecoder) ReadCommand(st ServerState) (*Command, error) {
	s := &d.s
	s.used = 0
	tag, ch, err := s.word()
	if err != nil {
		return nil, err
	}
	if ch != ' ' {
		if err := s.eatLine(ch); err != nil {
			return nil, err
		}
		return nil, &BadCommand{Text: TextNeedCommand, Untagged: true}
	}
	word, ch, err := s.word()
	if err != nil {
		return nil, err
	}
	bad := func(text string, ch int) (*Command, error) {
		if err := s.eatLine(ch); err != nil {
			return nil, err
		}
		return nil, &BadCommand{Tag: tag, Text: text}
	}
	if word == "" {
		return bad(TextNullCommand, ch)
	}
	name := canonical(word)
	cmd := &Command{Tag: tag, Name: name}

	if name == CmdStartTLS && !st.StartTLS {
		return bad(TextUnrecognized, ch)
	}
	// Pre-authentication gate, by initial as Cyrus's switch does it.
	if !st.Authenticated {
		switch name {
		case CmdAuthenticate, CmdLogout, CmdStartTLS:
		default:
			switch name[0] {
			case 'A', 'D', 'F', 'L', 'N', 'R', 'U':
				return bad(TextPleaseLogin, ch)
			}
			return bad(TextUnrecognized, ch)
		}
	}

	// fixed reads exactly n strings: "Missing arguments" when one is
	// absent, "Extra arguments" when the line does not end after the last.
	fixed := func(n int) (*Command, error) {
		for i := 0; i < n; i++ {
			if ch != ' ' {
				return bad(TextMissingArgs, ch)
			}
			v, next, ok, err := s.str(false)
			if err != nil {
				return nil, err
			}
			ch = next
			if !ok {
				ch = chFail
			}
			cmd.Args = append(cmd.Args, v)
		}
		end, err := s.crlf(ch)
		if err != nil {
			return nil, err
		}
		if !end {
			if ch == '\r' { // CR not followed by LF: the byte was pushed back
				ch = chFail
			}
			return bad(TextExtraArgs, ch)
		}
		return cmd, nil
	}

	switch name {
	case CmdActivate:
		return fixed(3)
	case CmdReserve, CmdDeactivate:
		return fixed(2)
	case CmdDelete, CmdFind:
		return fixed(1)
	case CmdLogout, CmdNoop, CmdStartTLS:
		return fixed(0)
	case CmdAuthenticate:
		// Deliberately liberal: atoms are accepted for the mechanism and
		// the initial response (Cyrus's own client sends a bare "=").
		if ch != ' ' {
			return bad(TextMissingArgs, ch)
		}
		v, next, ok, err := s.str(true)
		if err != nil {
			return nil, err
		}
		if !ok {
			next = chFail
		}
		cmd.Args = append(cmd.Args, v)
		ch = next
		if ch == ' ' {
			v, next, ok, err := s.str(true)
			if err != nil {
				return nil, err
			}
			if !ok {
				next = chFail
			}
			cmd.Args = append(cmd.Args, v)
			ch = next
		}
		return fixed(0)
	case CmdList:
		if ch == ' ' {
			return fixed(1)
		}
		return fixed(0)
	case CmdUpdate:
		counter := MaxUpdateHosts
		for ch == ' ' {
			v, next, ok, err := s.str(false)
			if err != nil {
				return nil, err
			}
			if !ok {
				next = chFail
			}
			if v == "" {
				return bad(TextBadlyFormedArgs, next)
			}
			if counter == 0 {
				return bad(TextExtraArgs, next)
			}
			counter--
			cmd.Args = append(cmd.Args, v)
			ch = next
		}
		return fixed(0)
	}
	return bad(TextUnrecognized, ch)
}
