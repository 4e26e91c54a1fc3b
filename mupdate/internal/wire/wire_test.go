package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

func TestReadCommand(t *testing.T) {
	auth := wire.ServerState{Authenticated: true}
	for _, tc := range []struct {
		name   string
		st     wire.ServerState
		in     string
		tag    string
		cmd    string
		args   []string
		bad    string
		goAhed int
	}{
		{"literal plus", auth, "X1 ACTIVATE {6+}\r\nshared {23+}\r\n127.0.0.1:11143!default {11+}\r\nanyone\tlrs\t\r\n", "X1", "ACTIVATE", []string{"shared", "127.0.0.1:11143!default", "anyone\tlrs\t"}, "", 0},
		{"sync literal", auth, "F1 FIND {10}\r\nuser.alice\r\n", "F1", "FIND", []string{"user.alice"}, "", 1},
		{"quoted escapes", auth, "F1 FIND \"a\\\"b\\\\c\"\r\n", "F1", "FIND", []string{"a\"b\\c"}, "", 0},
		{"lower case", auth, "f2 find \"x\"\n", "f2", "FIND", []string{"x"}, "", 0},
		{"list no arg", auth, "L1 LIST\r\n", "L1", "LIST", nil, "", 0},
		{"list empty prefix", auth, "L1 LIST \"\"\r\n", "L1", "LIST", []string{""}, "", 0},
		{"update hosts", auth, "U1 UPDATE \"h1\" {2+}\r\nh2\r\n", "U1", "UPDATE", []string{"h1", "h2"}, "", 0},
		{"auth literal ir", wire.ServerState{}, "A01 AUTHENTICATE \"PLAIN\" {4+}\r\nAAAA\r\n", "A01", "AUTHENTICATE", []string{"PLAIN", "AAAA"}, "", 0},
		{"auth bare =", wire.ServerState{}, "A01 AUTHENTICATE \"X\" =\r\n", "A01", "AUTHENTICATE", []string{"X", "="}, "", 0},
		{"atom refused", auth, "F3 FIND user.alice\r\n", "F3", "", nil, wire.TextExtraArgs, 0},
		{"missing", auth, "A1 ACTIVATE \"user.x\"\r\n", "A1", "", nil, wire.TextMissingArgs, 0},
		{"extra", auth, "L1 LIST \"a\" \"b\"\r\n", "L1", "", nil, wire.TextExtraArgs, 0},
		{"noop extra", auth, "N1 NOOP extra\r\n", "N1", "", nil, wire.TextExtraArgs, 0},
		{"empty host", auth, "U1 UPDATE \"\"\r\n", "U1", "", nil, wire.TextBadlyFormedArgs, 0},
		{"pre-auth", wire.ServerState{}, "F1 FIND \"x\"\r\n", "F1", "", nil, wire.TextPleaseLogin, 0},
		{"pre-auth unknown initial", wire.ServerState{}, "X1 BOGUS\r\n", "X1", "", nil, wire.TextUnrecognized, 0},
		{"pre-auth A-word", wire.ServerState{}, "X1 ABC\r\n", "X1", "", nil, wire.TextPleaseLogin, 0},
		{"compress unsupported", auth, "Z01 COMPRESS \"DEFLATE\"\r\n", "Z01", "", nil, wire.TextUnrecognized, 0},
		{"need command", auth, "\r\n", "", "", nil, wire.TextNeedCommand, 0},
		{"null command", auth, "T1 \r\n", "T1", "", nil, wire.TextNullCommand, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ga := 0
			d := wire.NewCommandDecoder(bufio.NewReader(strings.NewReader(tc.in+"Z9 NOOP\r\n")), wire.Limits{}, func() error { ga++; return nil })
			cmd, err := d.ReadCommand(tc.st)
			if tc.bad != "" {
				var bad *wire.BadCommand
				if !errors.As(err, &bad) || bad.Text != tc.bad || bad.Tag != tc.tag {
					t.Fatalf("ReadCommand(%q) = %+v, %v; want BAD %q", tc.in, cmd, err, tc.bad)
				}
			} else if err != nil || cmd.Tag != tc.tag || cmd.Name != tc.cmd || !slices.Equal(cmd.Args, tc.args) {
				t.Fatalf("ReadCommand(%q) = %+v, %v", tc.in, cmd, err)
			}
			if ga != tc.goAhed {
				t.Errorf("%d go-aheads, want %d", ga, tc.goAhed)
			}
			// The whole line was consumed: the next command reads cleanly.
			next, err := d.ReadCommand(wire.ServerState{Authenticated: true})
			if err != nil || next.Tag != "Z9" {
				t.Fatalf("next command: %+v, %v", next, err)
			}
		})
	}
}

func TestEncoderAsCyrus(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	e := wire.NewEncoder(w)
	e.Mailbox("U01", mupdate.Mailbox{Name: "user.erin", State: mupdate.Active, Location: "h1!p1"})
	e.Mailbox("F1", mupdate.Mailbox{Name: "user.carol", State: mupdate.Reserved, Location: "127.0.0.1:11143!default", ACL: "ignored\t"})
	e.Delete("U01", "user.bob")
	e.Status("L01", "OK", "list complete")
	e.StatusRaw("A2", "NO", "Client canceled authentication")
	e.Command("X0", "LIST", "127.0.0.1:11143!")
	e.WriteBanner(wire.Banner{Mechanisms: []string{"PLAIN", "LOGIN"}, ServerName: "mupdate.murderlab", Impl: "Cyrus IMAP", Version: "3.6.1", Master: "(master)"})
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "U01 MAILBOX {9+}\r\nuser.erin {5+}\r\nh1!p1 {0+}\r\n\r\n" +
		"F1 RESERVE {10+}\r\nuser.carol {23+}\r\n127.0.0.1:11143!default\r\n" +
		"U01 DELETE {8+}\r\nuser.bob\r\n" +
		"L01 OK \"list complete\"\r\n" +
		"A2 NO Client canceled authentication\r\n" +
		"X0 LIST {16+}\r\n127.0.0.1:11143!\r\n" +
		"* AUTH \"PLAIN\" \"LOGIN\"\r\n* PARTIAL-UPDATE\r\n* OK MUPDATE \"mupdate.murderlab\" \"Cyrus IMAP\" \"3.6.1\" \"(master)\"\r\n"
	if buf.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", buf.String(), want)
	}
}

func TestReadResponse(t *testing.T) {
	in := "* AUTH \"PLAIN\"\r\n* OK MUPDATE \"m\" \"Cyrus IMAP\" \"3\" \"(master)\"\r\n" +
		"U1 MAILBOX {3+}\r\nabc {2+}\r\nh! {0+}\r\n\r\nU1 RESERVE \"n\" \"l\"\r\nU1 DELETE {1+}\r\nx\r\n" +
		"A2 NO Client canceled authentication\r\nN1 OK \"Noop done\"\r\n"
	d := wire.NewResponseDecoder(bufio.NewReader(strings.NewReader(in)), wire.Limits{})
	var got []string
	for {
		r, err := d.ReadResponse()
		if err != nil {
			break
		}
		got = append(got, r.Tag+"|"+r.Kind+"|"+strings.Join(r.Args, ",")+"|"+r.Text)
	}
	want := []string{
		"*|AUTH||\"PLAIN\"", "*|OK||MUPDATE \"m\" \"Cyrus IMAP\" \"3\" \"(master)\"",
		"U1|MAILBOX|abc,h!,|", "U1|RESERVE|n,l|", "U1|DELETE|x|",
		"A2|NO||Client canceled authentication", "N1|OK||Noop done",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
