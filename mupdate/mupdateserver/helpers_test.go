package mupdateserver_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/mupdatetest"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// labCreds are the lab's sasldb users (admin and murder are admins).
const labCreds = "admin:adminpw\nmurder:murderpw\nalice:alicepw\nbob:bobpw\n"

type testServer struct {
	srv    *mupdateserver.Server
	be     *memory.Backend
	addr   string
	cancel context.CancelFunc // ends Serve (a shutdown)
	done   <-chan struct{}    // closed when Serve returned
}

func startServer(t testing.TB, mutate func(*mupdateserver.Config)) *testServer {
	t.Helper()
	st, err := creds.Parse(strings.NewReader(labCreds))
	if err != nil {
		t.Fatal(err)
	}
	be := memory.New(nil)
	cfg := mupdateserver.Config{
		Backend:          be,
		Auth:             st,
		Admins:           []string{"admin", "murder"},
		ServerName:       "mupdate.murderlab",
		FailedLoginPause: -1,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s := mupdatetest.Start(t, cfg)
	return &testServer{srv: s.Server, be: be, addr: s.Addr, cancel: s.Cancel, done: s.Done}
}

// rawConn is a line-level test client.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.nc, s); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) line() string {
	r.t.Helper()
	l, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("reading a line: %v (got %q)", err, l)
	}
	return l
}

// until reads lines up to and including one starting with prefix.
func (r *rawConn) until(prefix string) []string {
	r.t.Helper()
	var out []string
	for {
		l := r.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

func (r *rawConn) login(user, pw string) {
	r.t.Helper()
	r.until("* OK")
	r.send("A01 AUTHENTICATE \"PLAIN\" \"" + b64("\x00"+user+"\x00"+pw) + "\"\r\n")
	if l := r.line(); l != "A01 OK \"Authenticated\"\r\n" {
		r.t.Fatalf("login: %q", l)
	}
}

func mb(name, loc, acl string) mupdate.Mailbox {
	return mupdate.Mailbox{Name: name, State: mupdate.Active, Location: loc, ACL: acl}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
