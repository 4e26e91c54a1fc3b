package mupdateserver_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// TestReplyNotHeldByPartialCommand: a reply is flushed even when part of
// the next command is already buffered (Cyrus flushes its output before
// every read; a real 3.6.1 master answers `N1 NOOP\r\nabc` at once).
func TestReplyNotHeldByPartialCommand(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct{ name, input, want, rest, then string }{
		{"noop then partial", "N1 NOOP\r\nabc", "N1 OK \"Noop done\"\r\n", "\r\n", "* BAD \"Need command\"\r\n"},
		{"find then partial literal", "F1 FIND \"user.x\"\r\nF2 FIND {6+}\r\nus", "F1 OK \"Search completed\"\r\n", "er.x\r\n", "F2 OK \"Search completed\"\r\n"},
		{"bad then partial", "B1 BOGUS\r\nN2 NO", "B1 BAD \"Unrecognized command\"\r\n", "OP\r\n", "N2 OK \"Noop done\"\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.login("admin", "adminpw")
			c.send(tc.input)
			c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			l, err := c.br.ReadString('\n')
			if err != nil || l != tc.want {
				t.Fatalf("after %q: got %q (%v), want %q at once", tc.input, l, err, tc.want)
			}
			// The rest of the command still works once it is complete.
			c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			c.send(tc.rest)
			if l := c.line(); l != tc.then {
				t.Fatalf("after %q: got %q, want %q", tc.rest, l, tc.then)
			}
		})
	}
}

// dialStalled connects from local address 127.0.0.1 with a small receive
// buffer (set before the connection exists, so the window stays small),
// logs in, starts UPDATE and reads up to "streaming starts"; from then on
// the caller does not read: a stalled slave.
func dialStalled(t testing.TB, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	r := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	r.login("admin", "adminpw")
	r.send("U1 UPDATE\r\n")
	r.until("U1 OK \"streaming starts\"")
	nc.SetDeadline(time.Time{})
	return r
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestStalledUpdateClientsBounded: UPDATE clients that stop reading while
// writes go on are dropped as soon as they hold StreamMaxBytes (or together
// StreamTotalBytes), long before WriteTimeout; each drop is one log line
// and a counted Stats reason; what the server holds for streams never goes
// over StreamTotalBytes; a client that reads keeps every change; a dropped
// client that reads again gets everything up to its drop, then `* BYE`.
func TestStalledUpdateClientsBounded(t *testing.T) {
	// CI: 6 stalled clients, 32,000 changes of ~1 KiB (32 MB for every
	// client), caps of 2 and 6 MiB. MURDERKIT_STALLED_MB=150 (make hostile):
	// 10 stalled clients, 150 MB of changes, the default caps (32 and
	// 256 MiB) — the size at which the server used to grow by gigabytes.
	stalled, perStream, total, writesEach := 6, int64(2<<20), int64(6<<20), 8000
	const writers, names = 4, 500
	if v := os.Getenv("MURDERKIT_STALLED_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil || mb < 1 {
			t.Fatalf("MURDERKIT_STALLED_MB=%q: want a number of MB", v)
		}
		stalled, perStream, total = 10, mupdateserver.DefaultStreamMaxBytes, mupdateserver.DefaultStreamTotalBytes
		writesEach = mb << 20 / 1100 / writers
	}
	var logs syncBuf
	ts := startServer(t, func(c *mupdateserver.Config) {
		c.StreamMaxBytes = perStream
		c.StreamTotalBytes = total
		// the stalled clients read again only at the end: their BYE
		// must still be waiting then (a drop does not wait for this)
		c.WriteTimeout = 10 * time.Minute
		c.ByeTimeout = 10 * time.Minute
		// warnings only: the test's log buffer is not what is measured
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		// keep no history of changes: the heap then shows what the
		// streams hold
		c.Backend = memory.New(&memory.Options{History: 16})
	})
	good := dialClient(t, ts.addr, "admin", "adminpw", "PLAIN", nil)
	var seen atomic.Int64 // the reading client counts, keeps nothing
	synced := make(chan struct{})
	// The writers wait while the reading client is more than lead changes
	// (~0.5 MiB, a quarter of its stream's cap) behind: under a loaded
	// machine the reader is starved of CPU and really falls behind, and
	// the server is right to drop it then. What is tested is that the
	// stalled clients are dropped and a client that keeps reading is not.
	const lead = 500
	outstanding := make(chan struct{}, lead)
	go good.Update(context.Background(), nil, func(ev mupdateclient.Event) error {
		if ev.Type == mupdateclient.EventSynced {
			close(synced)
		} else {
			<-outstanding
		}
		seen.Add(1)
		return nil
	})
	<-synced
	var slow []*rawConn
	for range stalled {
		slow = append(slow, dialStalled(t, ts.addr))
	}
	before := heapInUse()

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var peakMu sync.Mutex
	var maxHeld int64
	var maxHeap uint64
	stop := make(chan struct{})
	go func() { // sample what the server holds while the writes run
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakMu.Lock()
			maxHeld = max(maxHeld, ts.srv.Stats().StreamBytes)
			maxHeap = max(maxHeap, ms.HeapAlloc)
			peakMu.Unlock()
		}
	}()
	for w := range writers {
		c := dialClient(t, ts.addr, "murder", "murderpw", "PLAIN", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writesEach {
				// a fresh ACL string every write: queued changes hold
				// their own bytes
				acl := fmt.Sprintf("w%d-%06d\tlrs\t", w, i) + strings.Repeat("someone\tlrswipkxtecdan\t", 42)
				select {
				case outstanding <- struct{}{}:
				case <-time.After(2 * time.Minute):
					errs <- fmt.Errorf("the reading client read nothing for 2 minutes (%d events)", seen.Load())
					return
				}
				if err := c.Activate(ctx, fmt.Sprintf("user.u%03d", (w*writesEach+i)%names), "h!p", acl); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The stalled clients are still connected and still not reading.
	grown := int64(heapInUse()) - int64(before)
	close(stop)
	peakMu.Lock()
	defer peakMu.Unlock()
	st := ts.srv.Stats()
	t.Logf("stats %+v; sampled max held %d; heap peak %d above the start (live and garbage); after a GC with the clients still stalled, heap grew %d bytes", st, maxHeld, int64(maxHeap)-int64(before), grown)
	if st.StreamBytesPeak > total || maxHeld > total {
		t.Errorf("streams held %d bytes at the peak (sampled %d), over the total cap of %d", st.StreamBytesPeak, maxHeld, total)
	}
	if st.StreamBytesPeak < perStream {
		t.Errorf("peak %d: the stalled clients never filled their queue; the test proves nothing", st.StreamBytesPeak)
	}
	if grown > total+4<<20 {
		t.Errorf("heap grew by %d bytes while %d clients were stalled (total cap %d)", grown, stalled, total)
	}
	dropped := st.StreamsDropped["stream_bytes"] + st.StreamsDropped["total_bytes"]
	if dropped != int64(stalled) {
		t.Errorf("%d clients dropped for bytes, want the %d stalled ones", dropped, stalled)
	}
	if n := strings.Count(logs.String(), "UPDATE client fell too far behind"); n != stalled {
		t.Errorf("%d drop log lines, want %d:\n%s", n, stalled, logs.String())
	}
	nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := good.Noop(nctx); err != nil {
		t.Fatalf("the reading client: %v", err)
	}
	if got := seen.Load(); got != int64(writers*writesEach+1) {
		t.Fatalf("the reading client got %d events, want %d", got, writers*writesEach+1)
	}
	// Each stalled client now reads: complete lines, then the BYE, then EOF.
	for i, r := range slow {
		r.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		rest, err := io.ReadAll(r.br)
		if err != nil {
			t.Fatalf("stalled client %d: %v after %d bytes", i, err, len(rest))
		}
		if !bytes.HasSuffix(rest, []byte("\r\n* BYE \"update stream fell too far behind; resync\"\r\n")) {
			t.Errorf("stalled client %d: %d bytes ending in %q, want the BYE", i, len(rest), rest[max(0, len(rest)-120):])
		}
	}
	if b := ts.srv.Stats().StreamBytes; b != 0 {
		t.Errorf("streams still hold %d bytes after every client caught up or left", b)
	}
}

// hostileConns is how many stranger connections a flood opens: 300 by
// default (CI), MURDERKIT_HOSTILE_CONNS for the large run (`make soak`
// sets 10000; the process needs about twice that many descriptors).
func hostileConns(t testing.TB) int {
	n := 300
	if v := os.Getenv("MURDERKIT_HOSTILE_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			t.Fatalf("MURDERKIT_HOSTILE_CONNS=%q: want a number ≥ 10", v)
		}
	}
	return n
}

// flood opens n connections from the loopback address from and never
// logs in on them. Those the server refused at once (their first line is
// a BYE) are closed on our side too, so that large floods fit in the
// process's descriptors; the others stay open, unread after their first
// line, until the test ends. It returns those.
func flood(t testing.TB, addr, from string, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	all := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, nc := range all {
			nc.Close()
		}
	})
	for i := range n {
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("stranger %d from %s: %v", i, from, err)
		}
		all = append(all, nc)
	}
	var open []net.Conn
	buf := make([]byte, 5)
	for _, nc := range all {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(nc, buf); err != nil {
			t.Fatalf("a stranger from %s read nothing: %v", from, err)
		}
		if string(buf) == "* BYE" {
			nc.Close()
			continue
		}
		open = append(open, nc)
	}
	return open
}

// TestStrangersDoNotLockOutBackends: hundreds of idle connections that
// never log in, first from one address (127.0.0.2), then spread over many,
// neither lock out a new client from 127.0.0.1 (ours and Cyrus's own
// mupdatetest log in and work) nor disturb the backends and slaves logged
// in before; strangers from one address are capped, the oldest stranger is
// closed to make room when the server is full, and every stranger is gone
// after the login timeout with `* BYE "login timeout"`.
func TestStrangersDoNotLockOutBackends(t *testing.T) {
	n := hostileConns(t)
	maxConns := n * 2 / 3
	const perAddr = 128
	var logs syncBuf
	ts := startServer(t, func(c *mupdateserver.Config) {
		c.MaxConns = maxConns
		c.LoginTimeout = 5 * time.Second
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	ctx := context.Background()
	slave := dialClient(t, ts.addr, "admin", "adminpw", "PLAIN", nil)
	f := follow(t, slave, nil)
	backend := dialClient(t, ts.addr, "murder", "murderpw", "PLAIN", nil)
	// newcomer: a client from 127.0.0.1 that must get in and work now
	newcomer := func(name string) {
		t.Helper()
		c := dialClient(t, ts.addr, "murder", "murderpw", "SCRAM-SHA-256", nil)
		if err := c.Activate(ctx, name, "be1!default", "anyone\tlrs\t"); err != nil {
			t.Fatalf("newcomer: %v", err)
		}
		c.Close()
		if err := backend.Activate(ctx, name+".sub", "be1!default", "anyone\tlrs\t"); err != nil {
			t.Fatalf("backend logged in before the flood: %v", err)
		}
	}

	// 1. n strangers from one address: MaxUnauthPerAddr of them are served.
	start := time.Now()
	flood(t, ts.addr, "127.0.0.2", n)
	eventually.True(t, 10*time.Second, "per-address refusals counted", func() bool {
		return ts.srv.Stats().Refused["per_address"] == int64(n-perAddr)
	})
	if got := ts.srv.Stats().AwaitingLogin; got != perAddr && time.Since(start) < 4*time.Second {
		t.Fatalf("%d connections awaiting login, want the %d allowed from 127.0.0.2", got, perAddr)
	}
	newcomer("user.after1")
	mupdatetestFinds(t, ts.addr, "user.after1")

	// 2. n strangers spread over addresses, each under the per-address cap:
	// more than MaxConns, so the oldest strangers are closed for new ones.
	addrs := max(10, n/100)
	var last []net.Conn
	for i := range addrs {
		last = flood(t, ts.addr, fmt.Sprintf("127.0.0.%d", 3+i), n/addrs)
	}
	eventually.True(t, 10*time.Second, "evictions counted", func() bool { return ts.srv.Stats().Refused["evicted"] > 0 })
	newcomer("user.after2")
	mupdatetestFinds(t, ts.addr, "user.after2")

	// The slave logged in before it all saw every write.
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := slave.Noop(nctx); err != nil {
		t.Fatalf("slave: %v", err)
	}
	ev := strings.Join(f.get(), "\n")
	for _, name := range []string{"user.after1", "user.after1.sub", "user.after2", "user.after2.sub"} {
		if !strings.Contains(ev, "MAILBOX "+name+" ") {
			t.Errorf("the slave did not see %s:\n%s", name, ev)
		}
	}

	// 3. The strangers that are left go at the login timeout.
	eventually.True(t, 20*time.Second, "every stranger closed", func() bool { return ts.srv.Stats().AwaitingLogin == 0 })
	st := ts.srv.Stats()
	t.Logf("stats %+v, open %d", st, ts.srv.Conns())
	nc := last[len(last)-1] // the newest stranger was never evicted
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, err := io.ReadAll(nc)
	if err != nil || !bytes.HasSuffix(out, []byte("\r\n* BYE \"login timeout\"\r\n")) {
		t.Errorf("a stranger got %q (%v), want the banner then * BYE \"login timeout\"", out, err)
	}
	if st.Refused["login_timeout"] == 0 {
		t.Errorf("no login timeouts counted")
	}
	if got := ts.srv.Conns(); got != 2 {
		t.Errorf("%d connections open, want the slave and the backend", got)
	}
	for _, want := range []string{"too many from this address awaiting login", "closing the oldest one that has not logged in", "did not log in in time"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line %q:\n%s", want, logs.String())
		}
	}
}

// mupdatetestFinds runs Cyrus's own client (from 127.0.0.1) against addr:
// it must log in and FIND name.
func mupdatetestFinds(t *testing.T, addr, name string) {
	t.Helper()
	tool := cyrustest.Tool(t, "mupdatetest")
	dir, err := os.MkdirTemp("", "mupdatetest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	script := filepath.Join(dir, "cmds")
	os.WriteFile(script, []byte("F1 FIND \""+name+"\"\r\nQ1 LOGOUT\r\n"), 0o644)
	os.Chmod(dir, 0o755)
	_, port, _ := strings.Cut(addr, ":")
	out, err := runBounded(cyrustest.AsCyrus(tool, "-p", port, "-a", "admin", "-w", "adminpw", "-m", "PLAIN", "-f", script, "127.0.0.1"), 20*time.Second)
	if err != nil {
		t.Fatalf("mupdatetest: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), name+" {") || !strings.Contains(string(out), "F1 OK \"Search completed\"") {
		t.Fatalf("mupdatetest did not find %s:\n%s", name, out)
	}
}
