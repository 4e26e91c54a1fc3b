package bridge_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
	_ "github.com/murderkit/murderkit/registry/etcd" // etcd:// URLs
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// session is a raw MUPDATE connection for these tests.
type session struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (s *session) send(format string, args ...any) { fmt.Fprintf(s.c, format+"\r\n", args...) }

// until returns the lines read up to and including the first one starting
// with prefix.
func (s *session) until(prefix string) []string {
	s.t.Helper()
	var got []string
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("waiting for %q after %q: %v", prefix, got, err)
		}
		l = strings.TrimRight(l, "\r\n")
		got = append(got, l)
		if strings.HasPrefix(l, prefix) {
			return got
		}
	}
}

// startBridge serves MUPDATE from the adapter on a fresh leveldb registry
// with one admin, murder/murderpw, and returns a function that opens
// logged-in sessions.
func startBridge(t *testing.T) func() *session {
	t.Helper()
	st, err := leveldb.Open(context.Background(), filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return runBridge(t, st)
}

// runBridge serves MUPDATE from the adapter on st (closed at the end of the
// test), as murder-bridge serve does without follow mode and HTTP.
func runBridge(t *testing.T, st registry.Store) func() *session {
	t.Helper()
	cr, err := creds.Parse(strings.NewReader("murder:murderpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	ad := bridge.New(st)
	ad.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := mupdateserver.New(mupdateserver.Config{Backend: ad, Auth: cr, Admins: cr.Names(), ServerName: "t",
		Impl: "murder-bridge", Logger: ad.Logger})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		srv.Shutdown(ctx)
		cancel()
		srv.Close()
		<-done
		st.Close()
	})
	return func() *session {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		s := &session{t: t, c: c, r: bufio.NewReader(c)}
		s.until("* OK")
		s.send(`A01 AUTHENTICATE "PLAIN" "%s"`, base64.StdEncoding.EncodeToString([]byte("\x00murder\x00murderpw")))
		s.until("A01 OK")
		return s
	}
}

// PARTIAL-UPDATE "A": a mailbox moving from A to B and a mailbox deleted
// on A reach the client (Cyrus matches the old or the new server); changes
// that never touch A do not.
func TestPartialUpdateSeesMovesAndDeletes(t *testing.T) {
	login := startBridge(t)
	w := login()
	w.send("W1 ACTIVATE \"user.move\" \"A!p\" \"x\tlr\t\"")
	w.send("W2 ACTIVATE \"user.gone\" \"A!p\" \"x\tlr\t\"")
	w.send("W3 ACTIVATE \"user.other\" \"C!p\" \"x\tlr\t\"")
	w.until("W3 OK")

	s := login()
	s.send(`U01 UPDATE "A"`)
	dump := s.until(`U01 OK "streaming starts"`)
	if got := strings.Join(dump, "\n"); !strings.Contains(got, "user.move") || !strings.Contains(got, "user.gone") || strings.Contains(got, "user.other") {
		t.Fatalf("partial dump for A:\n%s", got)
	}

	w.send("W4 ACTIVATE \"user.move\" \"B!p\" \"x\tlr\t\"") // moves away from A
	w.send(`W5 DELETE "user.gone"`)                         // deleted on A
	w.send(`W6 DELETE "user.other"`)                        // deleted on C
	w.send(`W7 ACTIVATE "user.new" "C!p" ""`)               // never on A
	w.until("W7 OK")
	s.send("N1 NOOP")
	got := strings.Join(s.until("N1 OK"), "\n")
	for _, want := range []string{"U01 MAILBOX {9+}\nuser.move {3+}\nB!p", "U01 DELETE {9+}\nuser.gone"} {
		if !strings.Contains(got, want) {
			t.Errorf("stream for A lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"user.other", "user.new"} {
		if strings.Contains(got, not) {
			t.Errorf("stream for A has %s:\n%s", not, got)
		}
	}
}

// The same on one etcd registry with the changes made through another
// bridge: the registry's feed carries the former entry, so bridge B's
// PARTIAL-UPDATE client for A hears of a move away from A and a delete on
// A that bridge A made.
func TestPartialUpdateSeesOtherBridgesMovesAndDeletes(t *testing.T) {
	c := etcdtest.Start(t, 1, &etcdtest.Options{FirstIP: 91})
	open := func() registry.Store {
		st, err := registry.Open(context.Background(), c.URL("/partial", ""))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	loginA, loginB := runBridge(t, open()), runBridge(t, open())
	w := loginA()
	w.send("W1 ACTIVATE \"user.move\" \"A!p\" \"x\tlr\t\"")
	w.send("W2 ACTIVATE \"user.gone\" \"A!p\" \"x\tlr\t\"")
	w.send("W3 ACTIVATE \"user.other\" \"C!p\" \"x\tlr\t\"")
	w.until("W3 OK")

	s := loginB()
	s.send(`U01 UPDATE "A"`)
	var dump []string
	for !strings.Contains(strings.Join(dump, "\n"), "user.gone") { // B's feed may lag A's writes
		s.send("N0 NOOP")
		dump = append(dump, s.until("N0 OK")...)
		if len(dump) > 1000 {
			t.Fatalf("bridge B never showed A's writes:\n%s", strings.Join(dump, "\n"))
		}
	}
	w.send("W4 ACTIVATE \"user.move\" \"B!p\" \"x\tlr\t\"") // moves away from A
	w.send(`W5 DELETE "user.gone"`)                         // deleted on A
	w.send(`W6 DELETE "user.other"`)                        // deleted on C
	w.send(`W7 ACTIVATE "user.new" "C!p" ""`)               // never on A
	w.send(`W8 ACTIVATE "user.marker" "A!p" ""`)            // after all of them, on A
	w.until("W8 OK")
	got := strings.Join(s.until("U01 MAILBOX {11+}"), "\n") // user.marker: the stream is in order
	for _, want := range []string{"U01 MAILBOX {9+}\nuser.move {3+}\nB!p", "U01 DELETE {9+}\nuser.gone"} {
		if !strings.Contains(got, want) {
			t.Errorf("bridge B's stream for A lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"user.other", "user.new"} {
		if strings.Contains(got, not) {
			t.Errorf("bridge B's stream for A has %s:\n%s", not, got)
		}
	}
}

// Read-your-writes across bridges: a mailbox activated through bridge A
// is in bridge B's UPDATE stream before B answers a NOOP sent after the
// write returned (what a frontend's kick relies on), every time.
func TestNoopFlushesOtherBridgesWrites(t *testing.T) {
	c := etcdtest.Start(t, 1, &etcdtest.Options{FirstIP: 92})
	open := func() registry.Store {
		st, err := registry.Open(context.Background(), c.URL("/ryw", ""))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	loginA, loginB := runBridge(t, open()), runBridge(t, open())
	w, s := loginA(), loginB()
	s.send(`U01 UPDATE`)
	s.until(`U01 OK "streaming starts"`)
	for i := range 40 {
		name := fmt.Sprintf("user.ryw%02d", i)
		w.send(`W%02d ACTIVATE "%s" "A!p" ""`, i, name)
		w.until(fmt.Sprintf("W%02d OK", i))
		s.send("N%02d NOOP", i)
		if got := strings.Join(s.until(fmt.Sprintf("N%02d OK", i)), "\n"); !strings.Contains(got, name) {
			t.Fatalf("write %d: bridge B answered NOOP without %s, written through bridge A before it:\n%s", i, name, got)
		}
	}
	// Without a NOOP, a change through A reaches B's UPDATE client within
	// a second (design target), in order.
	var worst time.Duration
	for i := range 20 {
		name := fmt.Sprintf("user.push%02d", i)
		w.send(`P%02d ACTIVATE "%s" "A!p" ""`, i, name)
		w.until(fmt.Sprintf("P%02d OK", i))
		start := time.Now()
		got := s.until("user.push")
		if d := time.Since(start); d > worst {
			worst = d
		}
		if !strings.HasPrefix(got[len(got)-1], name) {
			t.Fatalf("push %d: B streamed %q, want %s next", i, got[len(got)-1], name)
		}
	}
	if worst > time.Second {
		t.Errorf("a change through bridge A took up to %v to reach bridge B's UPDATE client, want < 1 s", worst)
	}
	t.Logf("bridge A's write -> bridge B's UPDATE client: at most %v over 20 writes", worst)
	// A registry write that is no mailbox change (a slot) does not hold up
	// B's NOOP: etcd confirms the revision instead.
	st := open()
	defer st.Close()
	if _, err := st.CreateSlot(context.Background(), registry.Slot{Name: "s1", State: registry.SlotLegacy, Locations: []registry.Location{{Server: "A"}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.send("S1 NOOP")
	s.until("S1 OK")
	if d := time.Since(start); d > time.Second {
		t.Errorf("B's NOOP after a slot write took %v", d)
	}
}

// The same on leveldb when the changes reach the store by another path
// than MUPDATE (as follow mode's mirrored changes do): the store remembers
// what its recent changes replaced.
func TestPartialUpdateSeesDirectStoreWrites(t *testing.T) {
	ctx := context.Background()
	st, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	login := runBridge(t, st)
	mk := func(name, server string) registry.Entry {
		e := registry.Entry{}
		e.Name, e.Server, e.Partition = name, server, "p"
		got, err := st.Create(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	move, gone := mk("user.move", "A"), mk("user.gone", "A")
	mk("user.other", "C")
	s := login()
	s.send(`U01 UPDATE "A"`)
	s.until(`U01 OK "streaming starts"`)
	move.SetPrimary(registry.Location{Server: "B", Partition: "p"})
	if _, err := st.Update(ctx, move); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Delete(ctx, gone.Name, gone.Revision); err != nil {
		t.Fatal(err)
	}
	s.send("N1 NOOP")
	got := strings.Join(s.until("N1 OK"), "\n")
	for _, want := range []string{"U01 MAILBOX {9+}\nuser.move {3+}\nB!p", "U01 DELETE {9+}\nuser.gone"} {
		if !strings.Contains(got, want) {
			t.Errorf("stream for A lacks %q:\n%s", want, got)
		}
	}
}
