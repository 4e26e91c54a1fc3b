package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// transcriptStreams returns, per transcript, the bytes the client sent and
// the bytes the server sent.
func transcriptStreams(t testing.TB) (client, server [][]byte) {
	files, _ := filepath.Glob("../../testdata/transcripts/*.txt")
	if len(files) == 0 {
		t.Fatal("no transcripts")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c, s []byte
		for _, l := range strings.Split(string(data), "\n") {
			if len(l) < 3 {
				continue
			}
			var dst *[]byte
			switch l[:3] {
			case "C: ":
				dst = &c
			case "S: ":
				dst = &s
			default:
				continue
			}
			*dst = append(*dst, unescape(l[3:])...)
		}
		client, server = append(client, c), append(server, s)
	}
	return client, server
}

func unescape(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 'x':
			if i+2 < len(s) {
				v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
				b = append(b, byte(v))
				i += 2
			}
		default:
			b = append(b, s[i])
		}
	}
	return b
}

var fuzzLimits = wire.Limits{MaxWord: 256, MaxString: 4096, MaxCommand: 16384}

// decodeCommands reads every command of in; it reports them and whether
// reading ended cleanly.
func decodeCommands(t *testing.T, in []byte, st wire.ServerState) []*wire.Command {
	var cont bytes.Buffer
	d := wire.NewCommandDecoder(bufio.NewReader(bytes.NewReader(in)), fuzzLimits, func() error {
		cont.WriteString("+ go ahead\r\n")
		return nil
	})
	var out []*wire.Command
	for i := 0; i < 10000; i++ {
		cmd, err := d.ReadCommand(st)
		var bad *wire.BadCommand
		var big *wire.TooBigError
		switch {
		case err == nil:
			out = append(out, cmd)
			if cmd.Name == wire.CmdAuthenticate {
				st.Authenticated = true
			}
		case errors.As(err, &bad):
		case errors.As(err, &big):
			return out
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return out
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	}
	return out
}

// FuzzDecodeCommand: the server-side command decoder never panics, stays
// within its limits, and every command it accepts survives a round trip
// through the encoder (as literals, as Cyrus clients send them).
func FuzzDecodeCommand(f *testing.F) {
	client, _ := transcriptStreams(f)
	for _, c := range client {
		f.Add(c)
	}
	for _, s := range []string{
		"A1 AUTHENTICATE \"PLAIN\"\r\n", "F1 FIND {10}\r\nuser.alice\r\n", "U1 UPDATE \"\"\r\n",
		"X1 BOGUS {5+}\r\nabcde\r\n", "L1 LIST \"a\\\"b\"\r\n", "\r\n", " x\r\n", "T \"\r\n",
		"A1 ACTIVATE {2+}\r\na\x00 {1+}\r\nb {0+}\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, cmd := range decodeCommands(t, in, wire.ServerState{StartTLS: true}) {
			for _, a := range cmd.Args {
				if len(a) > fuzzLimits.MaxString {
					t.Fatalf("argument of %d bytes passed the limit", len(a))
				}
			}
			if cmd.Name == wire.CmdAuthenticate {
				continue // atoms allowed there; not re-encodable as literals in general
			}
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			e := wire.NewEncoder(w)
			e.Command(cmd.Tag, cmd.Name, cmd.Args...)
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
			again := decodeCommands(t, buf.Bytes(), wire.ServerState{Authenticated: true, StartTLS: true})
			if len(again) != 1 || again[0].Tag != cmd.Tag || again[0].Name != cmd.Name || !slices.Equal(again[0].Args, cmd.Args) {
				t.Fatalf("round trip of %+v gave %+v (wire %q)", cmd, again, buf.Bytes())
			}
		}
	})
}

// FuzzDecodeResponse: the client-side response decoder never panics, and
// every data response it accepts survives a round trip through the encoder.
func FuzzDecodeResponse(f *testing.F) {
	_, server := transcriptStreams(f)
	for _, s := range server {
		f.Add(s)
	}
	for _, s := range []string{
		"U1 MAILBOX {3+}\r\nabc {2+}\r\nh! {0+}\r\n\r\n", "X BYE\r\n", "* OK MUPDATE \"x\"\r\n",
		"A1 NO Client canceled authentication\r\n", "x DELETE \"a\r\n", "x RESERVE {1}\r\na \"b\"\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := wire.NewResponseDecoder(bufio.NewReader(bytes.NewReader(in)), fuzzLimits)
		for i := 0; i < 10000; i++ {
			r, err := d.ReadResponse()
			if err != nil {
				var pe *wire.ProtocolError
				var big *wire.TooBigError
				if errors.As(err, &pe) {
					continue // the rest of the line was consumed
				}
				if errors.As(err, &big) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return
				}
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			var m mupdate.Mailbox
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			e := wire.NewEncoder(w)
			switch r.Kind {
			case wire.KindMailbox:
				m = mupdate.Mailbox{Name: r.Args[0], Location: r.Args[1], ACL: r.Args[2], State: mupdate.Active}
				e.Mailbox(r.Tag, m)
			case wire.KindReserve:
				m = mupdate.Mailbox{Name: r.Args[0], Location: r.Args[1], State: mupdate.Reserved}
				e.Mailbox(r.Tag, m)
			case wire.KindDelete:
				e.Delete(r.Tag, r.Args[0])
			default:
				continue
			}
			e.Flush()
			r2, err := wire.NewResponseDecoder(bufio.NewReader(&buf), fuzzLimits).ReadResponse()
			if err != nil || r2.Tag != r.Tag || r2.Kind != r.Kind || !slices.Equal(r2.Args, r.Args) {
				t.Fatalf("round trip of %+v gave %+v, %v", r, r2, err)
			}
		}
	})
}
