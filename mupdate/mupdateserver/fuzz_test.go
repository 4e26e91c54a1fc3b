package mupdateserver_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// FuzzServerSession feeds arbitrary client bytes to a whole server session
// (before or after login) and checks that the session never panics, always
// ends (the input is followed by LOGOUT; a literal left open ends at the
// command timeout) and leaves nothing held: no connection awaiting login
// and no stream bytes once it is over.
func FuzzServerSession(f *testing.F) {
	for _, s := range []string{
		"N1 NOOP\r\nabc", "F1 FIND \"\"\r\n", "F2 FIND \"user.\xff\xfe\"\r\n", "T1 FIND {3+}\r\na\x00b\r\n",
		"R1 RESERVE \"user.x\" \"h!p\"\r\nA1 ACTIVATE \"user.x\" \"h!p\" \"a\tlrs\t\"\r\nU1 UPDATE\r\nN2 NOOP\r\n",
		"U1 UPDATE \"h\"\r\nD1 DELETE \"user.x\"\r\n", "L1 LIST \"h!\"\r\n", "T1 BOGUS {5+}\r\nT2 NO\r\n",
		"A1 AUTHENTICATE \"PLAIN\"\r\n" + b64("\x00admin\x00adminpw") + "\r\n", "A1 AUTHENTICATE \"SCRAM-SHA-256\"\r\n*\r\n",
		"S1 STARTTLS\r\n", "T1 FIND {99999999}\r\n", "\x00\x01\x02 \xff\xfe\r\n",
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	var logs syncBuf
	st, err := creds.Parse(strings.NewReader(labCreds))
	if err != nil {
		f.Fatal(err)
	}
	srv, err := mupdateserver.New(mupdateserver.Config{Backend: memory.New(nil), Auth: st, Admins: []string{"admin"},
		FailedLoginPause: -1, CommandTimeout: 100 * time.Millisecond, LoginTimeout: 2 * time.Second, NoopWait: 100 * time.Millisecond,
		Limits: wire.Limits{MaxString: 64 << 10, MaxCommand: 256 << 10},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	login := "A01 AUTHENTICATE \"PLAIN\" \"" + b64("\x00admin\x00adminpw") + "\"\r\n"
	f.Fuzz(func(t *testing.T, authed bool, in []byte) {
		cli, sc := net.Pipe()
		defer cli.Close()
		srv.ServeConn(context.Background(), sc)
		out := make(chan []byte, 1)
		go func() {
			var b bytes.Buffer
			io.Copy(&b, cli)
			out <- b.Bytes()
		}()
		cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if authed {
			io.WriteString(cli, login)
		}
		cli.Write(in)
		io.WriteString(cli, "\r\nZZ LOGOUT\r\n")
		select {
		case <-out:
		case <-time.After(10 * time.Second):
			t.Fatalf("the session did not end within 10 s after %q", in)
		}
		cli.Close()
		eventually.WaitTrue(5*time.Second, func() bool { return srv.Conns() == 0 }) // checked below
		s := srv.Stats()
		if srv.Conns() != 0 || s.AwaitingLogin != 0 || s.StreamBytes != 0 {
			t.Fatalf("after the session: %d connections, %d awaiting login, %d stream bytes", srv.Conns(), s.AwaitingLogin, s.StreamBytes)
		}
		if l := logs.String(); strings.Contains(l, "panic") {
			t.Fatalf("panic on %q:\n%s", in, l)
		}
	})
}
