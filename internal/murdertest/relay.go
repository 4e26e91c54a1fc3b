package murdertest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Relay is a recording MUPDATE relay: every client connection is passed
// through to one server unchanged, and each line is recorded, "C: " for
// what the client sent and "S: " for what the server answered, in the
// order the relay saw them. Point one Cyrus instance's mupdate_server at
// Relay.Addr to see exactly what it sends to its master.
type Relay struct {
	Addr string

	target string
	l      net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns [][]string
}

// StartRelay listens on a free loopback port and relays to target; it is
// closed by t.Cleanup.
func StartRelay(t testing.TB, target string) *Relay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{Addr: l.Addr().String(), target: target, l: l}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.Close)
	return r
}

// Close stops accepting and waits for relayed connections to end.
func (r *Relay) Close() {
	r.l.Close()
	r.wg.Wait()
}

// Transcripts returns the lines of every connection so far (finished or
// not), one slice per connection in the order they were accepted.
func (r *Relay) Transcripts() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]string, len(r.conns))
	for i, c := range r.conns {
		out[i] = append([]string(nil), c...)
	}
	return out
}

// Lines returns every connection's lines joined, connections separated by
// a line "--".
func (r *Relay) Lines() []string {
	var out []string
	for i, c := range r.Transcripts() {
		if i > 0 {
			out = append(out, "--")
		}
		out = append(out, c...)
	}
	return out
}

func (r *Relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		i := len(r.conns)
		r.conns = append(r.conns, nil)
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.relay(c, i)
		}()
	}
}

func (r *Relay) record(i int, prefix, line string) {
	r.mu.Lock()
	r.conns[i] = append(r.conns[i], prefix+strings.TrimRight(line, "\r\n"))
	r.mu.Unlock()
}

func (r *Relay) relay(client net.Conn, i int) {
	defer client.Close()
	s, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		r.record(i, "!! ", "dial "+r.target+": "+err.Error())
		return
	}
	defer s.Close()
	pipe := func(from, to net.Conn, prefix string, done func()) {
		defer done()
		br := bufio.NewReader(from)
		for {
			l, err := br.ReadString('\n')
			if l != "" {
				r.record(i, prefix, l)
				if _, werr := to.Write([]byte(l)); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go pipe(s, client, "S: ", func() { client.(*net.TCPConn).CloseWrite(); wg.Done() })
	go pipe(client, s, "C: ", func() { s.(*net.TCPConn).CloseWrite(); wg.Done() })
	wg.Wait()
}
