package murdertest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tee is a MUPDATE relay for side-by-side tests: every client connection is
// relayed to a primary server, whose answers the client gets, and the same
// client bytes are sent to a secondary server, whose answers are recorded
// and compared with the primary's. So one real Cyrus client (a backend's
// imapd, ctl_mboxlist -m) drives two masters with byte-identical input.
//
// It only works for deterministic client input: SASL PLAIN (SCRAM nonces
// differ per server).
type Tee struct {
	Addr string

	primary, secondary string
	l                  net.Listener
	wg                 sync.WaitGroup

	mu    sync.Mutex
	conns []*TeeConn
}

// TeeConn is the record of one relayed connection.
type TeeConn struct {
	Client    []byte // what the client sent (both servers got it)
	Primary   []byte // what the primary answered (the client got it)
	Secondary []byte // what the secondary answered
}

// StartTee listens on a free loopback port; it is closed by t.Cleanup.
func StartTee(t testing.TB, primary, secondary string) *Tee {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tee := &Tee{Addr: l.Addr().String(), primary: primary, secondary: secondary, l: l}
	tee.wg.Add(1)
	go tee.serve()
	t.Cleanup(tee.Close)
	return tee
}

// Close stops accepting and waits for relayed connections to end.
func (tee *Tee) Close() {
	tee.l.Close()
	tee.wg.Wait()
}

func (tee *Tee) serve() {
	defer tee.wg.Done()
	for {
		c, err := tee.l.Accept()
		if err != nil {
			return
		}
		tee.wg.Add(1)
		go func() {
			defer tee.wg.Done()
			tee.relay(c)
		}()
	}
}

type lockedBuf = Buffer

func (tee *Tee) relay(client net.Conn) {
	defer client.Close()
	p, err := net.DialTimeout("tcp", tee.primary, 5*time.Second)
	if err != nil {
		return
	}
	defer p.Close()
	s, err := net.DialTimeout("tcp", tee.secondary, 5*time.Second)
	if err != nil {
		return
	}
	defer s.Close()
	var cb, pb, sb lockedBuf
	// Both banners are read before the client's first byte goes out, and
	// the relay runs for at most a minute.
	deadline := time.Now().Add(time.Minute)
	for _, c := range []net.Conn{client, p, s} {
		c.SetDeadline(deadline)
	}
	// Lock-step: a primary line reaches the client only once the
	// secondary has sent as many lines (banner lines aside), or after
	// LockStepTimeout. Cyrus's master loses input that arrives while it is
	// still in AUTHENTICATE, so the secondary must have answered before the
	// client, prompted by the primary's answer, sends its next command.
	ss := &sideCount{}
	ss.cond = sync.NewCond(&ss.mu)
	var up sync.WaitGroup
	up.Add(2)
	go func() { // secondary -> record, counting lines
		defer up.Done()
		r := bufio.NewReader(s)
		for {
			l, err := r.ReadString('\n')
			sb.Write([]byte(l))
			if l != "" {
				ss.add(l)
			}
			if err != nil {
				ss.finish()
				return
			}
		}
	}()
	go func() { // primary -> client, in lock-step
		defer up.Done()
		out := &bestEffort{rec: &pb, w: client}
		r := bufio.NewReader(p)
		n := 0
		for {
			l, err := r.ReadString('\n')
			if l != "" {
				switch {
				case strings.HasPrefix(l, "* OK"):
					ss.waitOK()
				case !strings.HasPrefix(l, "* "):
					n++
					ss.waitLines(n)
				}
				out.Write([]byte(l))
			}
			if err != nil {
				break
			}
		}
		client.(*net.TCPConn).CloseWrite()
	}()
	// client -> both
	io.Copy(io.MultiWriter(p, s, &cb), client)
	p.(*net.TCPConn).CloseWrite()
	s.(*net.TCPConn).CloseWrite()
	up.Wait()
	tee.mu.Lock()
	tee.conns = append(tee.conns, &TeeConn{Client: cb.Bytes(), Primary: pb.Bytes(), Secondary: sb.Bytes()})
	tee.mu.Unlock()
}

// bestEffort records everything and forwards what the client still takes
// (Cyrus clients close right after LOGOUT without reading the answer).
type bestEffort struct {
	rec    *lockedBuf
	w      io.Writer
	failed bool
}

func (b *bestEffort) Write(p []byte) (int, error) {
	b.rec.Write(p)
	if !b.failed {
		if _, err := b.w.Write(p); err != nil {
			b.failed = true
		}
	}
	return len(p), nil
}

// LockStepTimeout bounds how long the Tee holds a primary line back
// waiting for the secondary.
var LockStepTimeout = 2 * time.Second

// sideCount counts the secondary's lines for the lock-step.
type sideCount struct {
	mu    sync.Mutex
	cond  *sync.Cond
	lines int // lines not starting with "* "
	ok    bool
	done  bool
}

func (c *sideCount) add(l string) {
	c.mu.Lock()
	if strings.HasPrefix(l, "* OK") {
		c.ok = true
	} else if !strings.HasPrefix(l, "* ") {
		c.lines++
	}
	c.mu.Unlock()
	c.cond.Broadcast()
}

func (c *sideCount) finish() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	c.cond.Broadcast()
}

func (c *sideCount) wait(cond func() bool) {
	t := time.AfterFunc(LockStepTimeout, func() {
		c.mu.Lock()
		c.done = true // give up waiting for this connection's secondary
		c.mu.Unlock()
		c.cond.Broadcast()
	})
	defer t.Stop()
	c.mu.Lock()
	for !cond() && !c.done {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

func (c *sideCount) waitOK()         { c.wait(func() bool { return c.ok }) }
func (c *sideCount) waitLines(n int) { c.wait(func() bool { return c.lines >= n }) }

// Conns returns the records of the connections that have ended.
func (tee *Tee) Conns() []*TeeConn {
	tee.mu.Lock()
	defer tee.mu.Unlock()
	return append([]*TeeConn(nil), tee.conns...)
}

// Differences compares, for every ended connection, the primary's and the
// secondary's answers line by line, leaving out the untagged banner lines
// ("* ..."), which name each server differently. It returns one readable
// report per differing connection.
func (tee *Tee) Differences() []string {
	var out []string
	for i, c := range tee.Conns() {
		a, b := tagged(c.Primary), tagged(c.Secondary)
		if strings.Join(a, "\n") == strings.Join(b, "\n") {
			continue
		}
		out = append(out, fmt.Sprintf("connection %d:\n client:\n%s\n primary:\n%s\n secondary:\n%s",
			i, indent(lines(c.Client)), indent(a), indent(b)))
	}
	return out
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func tagged(b []byte) []string {
	var out []string
	for _, l := range lines(b) {
		if strings.HasPrefix(l, "* ") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func indent(ls []string) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "    %q\n", l)
	}
	return b.String()
}
