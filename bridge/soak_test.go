package bridge_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/mupdatetest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// The MUPDATE soak: one server fed by the client mix a murder produces,
// plus hostile clients, all at once:
//
//   - backends: logged-in admins doing RESERVE → ACTIVATE (→ ACTIVATE with a
//     new ACL, → DEACTIVATE → ACTIVATE) → DELETE on names of every shape a
//     murder holds (user.*, subfolders, DELETED.*, virtual domains, `^`,
//     shared), locations with an empty partition (`host!`), without `!`, or
//     `host:port`, ACLs with groups and negative rights; every write is
//     valid for Cyrus (no crash case), so the end state is known;
//   - slaves: UPDATE streams (one PARTIAL-UPDATE) that mirror the list; at
//     the end a NOOP, then each mirror must equal the backends' end state;
//   - readers: FIND and LIST;
//   - slow readers: an UPDATE stream read 4 KiB every 20 ms;
//   - stalled readers: UPDATE, then never read;
//   - garbage: logged-in and not, bad lines from a fixed list and random
//     bytes, reconnecting whenever the server closes;
//   - strangers: idle connections from 127.0.0.2 that never log in.
//
// MURDERKIT_SOAK_COUNT is the number of backend writes (default 3000: a
// few seconds in CI; `make soak` runs 100000). The same mix runs against a
// real Cyrus 3.6.1 master for comparison (TestMupdateServerSoakCyrus);
// docs/reliability.md has the figures.

func soakCount(t *testing.T, def int) int {
	if v := os.Getenv("MURDERKIT_SOAK_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			t.Fatalf("MURDERKIT_SOAK_COUNT=%q: want a number ≥ 100", v)
		}
		return n
	}
	return def
}

type mixConfig struct {
	addr            string
	admin, adminPW  string // a backend identity
	writes          int
	backends        int
	slaves          int
	strangers       int
	stalled         int
	garbageConns    int
	readers         int
	sampleMemory    func() int64 // bytes the server process holds now
	serverAlive     func() error // nil while the server process lives
	noopAfterWrites time.Duration
}

type mixResult struct {
	mu      sync.Mutex
	counts  map[string]int64 // class/outcome → count
	samples []int64
	errs    []string
}

func (r *mixResult) add(k string, n int64) {
	r.mu.Lock()
	r.counts[k] += n
	r.mu.Unlock()
}

func (r *mixResult) fail(format string, args ...any) {
	r.mu.Lock()
	if len(r.errs) < 20 {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
}

func (r *mixResult) peak() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Max(append([]int64{0}, r.samples...))
}

// soakName returns the i-th name backend b owns: every shape a murder has.
func soakName(b, i int) string {
	b += 100 * int(soakRun.Load())
	switch i % 7 {
	case 0:
		return fmt.Sprintf("user.b%dn%d", b, i)
	case 1:
		return fmt.Sprintf("user.b%dn%d.Sent", b, i)
	case 2:
		return fmt.Sprintf("DELETED.user.b%dn%d.%08X", b, i, 0x6B0267B0+i)
	case 3:
		return fmt.Sprintf("example.com!user.b%dn%d", b, i)
	case 4:
		return fmt.Sprintf("user.b%dn%d.a^b", b, i)
	case 5:
		return fmt.Sprintf("shared.b%d.n%d", b, i)
	}
	return fmt.Sprintf("example.org!shared.b%dn%d.x", b, i)
}

// soakRun keeps the names of one run apart from an earlier run's on the
// same server.
var soakRun atomic.Int32

func soakLocation(b, i int) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("be%d!default", b)
	case 1:
		return fmt.Sprintf("be%d!", b) // empty partition
	case 2:
		return fmt.Sprintf("127.0.0.1:1%04d!p%d", b, i%3)
	}
	return fmt.Sprintf("be%d!p2", b)
}

func soakACL(b, i int) string {
	acl := fmt.Sprintf("b%dn%d\tlrswipkxtecdan\tgroup:staff\tlrs\t-anyone\tw\t", b, i)
	if i%5 == 0 {
		acl += strings.Repeat("someone\tlrswipkxtecdan\t", 40) // ~1 KiB
	}
	return acl
}

// garbageInputs are bad lines of the kinds TestBadInput checks one by one.
var garbageInputs = []string{
	"\x00\x01\x02 \xff\xfe\r\n",
	"\xff\xff BOGUS\r\n",
	"T1\r\n",
	"T1 \r\n",
	"T1 FIND {3+}\r\na\x00b\r\n",
	"T1 FIND {x}\r\n",
	"T1 FIND \"abc\r\n",
	"T1 BOGUS {5+}\r\nT2 NO\r\n",
	"U1 UPDATE host\r\n",
	"A1 ACTIVATE user.x \"l\" \"a\"\r\n",
	"F1 FIND \"\"\r\n",
	"F2 FIND \"user.\xff\xfe\"\r\n",
	"L1 LIST \"\xff\"\r\n",
	"N1 NOOP\r\nabc\r\n",
	"S1 STARTTLS\r\n",
	"A1 AUTHENTICATE \"CRAM-MD5\"\r\n",
	"A1 AUTHENTICATE \"PLAIN\" \"!!!\"\r\n",
}

func login(nc net.Conn, br *bufio.Reader, user, pw string) error {
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, "* OK") {
			break
		}
		if strings.HasPrefix(l, "* BYE") {
			return fmt.Errorf("greeted with %q", l)
		}
	}
	fmt.Fprintf(nc, "A01 AUTHENTICATE \"PLAIN\" \"%s\"\r\n", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw)))
	l, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(l, "A01 OK") {
		return fmt.Errorf("login: %q", l)
	}
	return nil
}

// runMix runs the mix against cfg.addr and returns what happened.
func runMix(t *testing.T, cfg mixConfig) *mixResult {
	soakRun.Add(1)
	res := &mixResult{counts: map[string]int64{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var bg sync.WaitGroup // hostile and slow clients: until cancel

	// memory sampler
	bg.Add(1)
	go func() {
		defer bg.Done()
		for ctx.Err() == nil {
			if m := cfg.sampleMemory(); m > 0 {
				res.mu.Lock()
				res.samples = append(res.samples, m)
				res.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	// strangers
	var strangers []net.Conn
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range cfg.strangers {
		nc, err := d.Dial("tcp", cfg.addr)
		if err != nil {
			res.add("strangers/dial error", 1)
			continue
		}
		strangers = append(strangers, nc)
		res.add("strangers/opened", 1)
	}
	defer func() {
		for _, nc := range strangers {
			nc.Close()
		}
	}()

	// stalled readers
	for range cfg.stalled {
		nc, err := net.Dial("tcp", cfg.addr)
		if err != nil {
			res.fail("stalled: %v", err)
			continue
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(nc)
		if err := login(nc, br, cfg.admin, cfg.adminPW); err != nil {
			res.fail("stalled login: %v", err)
			continue
		}
		io.WriteString(nc, "U1 UPDATE\r\n")
		res.add("stalled/started", 1)
	}

	// slow reader
	bg.Add(1)
	go func() {
		defer bg.Done()
		nc, err := net.Dial("tcp", cfg.addr)
		if err != nil {
			res.fail("slow: %v", err)
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(nc)
		if err := login(nc, br, cfg.admin, cfg.adminPW); err != nil {
			res.fail("slow login: %v", err)
			return
		}
		nc.SetDeadline(time.Time{})
		defer context.AfterFunc(ctx, func() { nc.Close() })()
		io.WriteString(nc, "U1 UPDATE\r\n")
		buf := make([]byte, 4096)
		for ctx.Err() == nil {
			n, err := nc.Read(buf)
			res.add("slow/bytes read", int64(n))
			if err != nil {
				res.add("slow/reads ended (server closed, or the run ended)", 1)
				return
			}
			time.Sleep(20 * time.Millisecond) // the load: a client that reads slowly
		}
	}()

	// garbage
	for g := range cfg.garbageConns {
		bg.Add(1)
		go func() {
			defer bg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for ctx.Err() == nil {
				nc, err := net.Dial("tcp", cfg.addr)
				if err != nil {
					res.add("garbage/dial error", 1)
					time.Sleep(50 * time.Millisecond) // the load's pace, not a synchronisation
					continue
				}
				br := bufio.NewReader(nc)
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				if g%2 == 0 {
					if err := login(nc, br, cfg.admin, cfg.adminPW); err != nil {
						res.add("garbage/login failed", 1)
						nc.Close()
						continue
					}
				}
				go io.Copy(io.Discard, br)
				for i := 0; i < 200 && ctx.Err() == nil; i++ {
					var in string
					if rng.IntN(3) == 0 {
						b := make([]byte, 1+rng.IntN(200))
						for j := range b {
							b[j] = byte(rng.IntN(256))
						}
						in = string(b) + "\r\n"
					} else {
						in = garbageInputs[rng.IntN(len(garbageInputs))]
					}
					if _, err := io.WriteString(nc, in); err != nil {
						res.add("garbage/closed by server", 1)
						break
					}
					res.add("garbage/lines sent", 1)
					time.Sleep(time.Millisecond) // the load's pace
				}
				nc.Close()
			}
		}()
	}

	// slaves
	type mirror struct {
		mu    sync.Mutex
		m     map[string]mupdate.Mailbox
		hosts []string
		c     *mupdateclient.Client
		done  chan error
	}
	var slaves []*mirror
	for s := range cfg.slaves {
		mctx, mcancel := context.WithTimeout(ctx, 20*time.Second)
		c, err := mupdateclient.Dial(mctx, cfg.addr, nil)
		if err == nil {
			err = c.Authenticate(mctx, cfg.admin, cfg.adminPW, "PLAIN")
		}
		mcancel()
		if err != nil {
			res.fail("slave %d: %v", s, err)
			res.add("slaves/refused", 1)
			continue
		}
		defer c.Close()
		mr := &mirror{m: map[string]mupdate.Mailbox{}, c: c, done: make(chan error, 1)}
		if s == 0 {
			mr.hosts = []string{"be0", "127.0.0.1:10001"}
		}
		synced := make(chan struct{})
		go func() {
			mr.done <- c.Update(ctx, mr.hosts, func(ev mupdateclient.Event) error {
				mr.mu.Lock()
				defer mr.mu.Unlock()
				switch ev.Type {
				case mupdateclient.EventSynced:
					close(synced)
				case mupdateclient.EventDelete:
					delete(mr.m, ev.Name)
				default:
					mr.m[ev.Name] = ev.Mailbox
				}
				return nil
			})
		}()
		select {
		case <-synced:
		case err := <-mr.done:
			res.fail("slave %d: %v", s, err)
			res.add("slaves/refused", 1)
			continue
		}
		slaves = append(slaves, mr)
	}

	// readers
	for r := range cfg.readers {
		bg.Add(1)
		go func() {
			defer bg.Done()
			c, err := mupdateclient.Dial(ctx, cfg.addr, nil)
			if err == nil {
				err = c.Authenticate(ctx, cfg.admin, cfg.adminPW, "PLAIN")
			}
			if err != nil {
				res.fail("reader %d: %v", r, err)
				res.add("readers/refused", 1)
				return
			}
			defer c.Close()
			for i := 0; ctx.Err() == nil; i++ {
				if i%50 == 49 {
					err = c.List(ctx, "be1!", func(mupdate.Mailbox) error { return nil })
					res.add("readers/LIST", 1)
				} else {
					_, _, err = c.Find(ctx, soakName(i%cfg.backends, i))
					res.add("readers/FIND", 1)
				}
				if err != nil {
					if ctx.Err() == nil {
						res.fail("reader %d: %v", r, err)
					}
					return
				}
			}
		}()
	}

	// backends: the writes, with their end state
	want := map[string]mupdate.Mailbox{}
	var wmu sync.Mutex
	var wg sync.WaitGroup
	var writes atomic.Int64
	start := time.Now()
	for b := range cfg.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := mupdateclient.Dial(ctx, cfg.addr, nil)
			if err == nil {
				err = c.Authenticate(ctx, cfg.admin, cfg.adminPW, "PLAIN")
			}
			if err != nil {
				res.fail("backend %d: %v", b, err)
				res.add("backends/refused", 1)
				return
			}
			defer c.Close()
			mine := map[string]mupdate.Mailbox{}
			do := func(op string, f func() error) bool {
				if err := f(); err != nil {
					res.fail("backend %d %s: %v", b, op, err)
					return false
				}
				res.add("backends/"+op+" OK", 1)
				writes.Add(1)
				return true
			}
			for i := 0; writes.Load() < int64(cfg.writes); i++ {
				name, loc, acl := soakName(b, i), soakLocation(b, i), soakACL(b, i)
				if !do("RESERVE", func() error { return c.Reserve(ctx, name, loc) }) ||
					!do("ACTIVATE", func() error { return c.Activate(ctx, name, loc, acl) }) {
					return
				}
				mine[name] = mupdate.Mailbox{Name: name, State: mupdate.Active, Location: loc, ACL: acl}
				switch i % 6 {
				case 1: // new ACL
					acl2 := acl + "bob\tlr\t"
					if !do("ACTIVATE", func() error { return c.Activate(ctx, name, loc, acl2) }) {
						return
					}
					mine[name] = mupdate.Mailbox{Name: name, State: mupdate.Active, Location: loc, ACL: acl2}
				case 2: // a move: DEACTIVATE to the target, ACTIVATE there
					to := soakLocation(b, i+1)
					if !do("DEACTIVATE", func() error { return c.Deactivate(ctx, name, to) }) ||
						!do("ACTIVATE", func() error { return c.Activate(ctx, name, to, acl) }) {
						return
					}
					mine[name] = mupdate.Mailbox{Name: name, State: mupdate.Active, Location: to, ACL: acl}
				case 3, 5:
					if !do("DELETE", func() error { return c.Delete(ctx, name) }) {
						return
					}
					delete(mine, name)
				case 4: // left reserved (a CREATE in progress)
					if !do("RESERVE", func() error { return c.Reserve(ctx, name+".new", loc) }) {
						return
					}
					mine[name+".new"] = mupdate.Mailbox{Name: name + ".new", State: mupdate.Reserved, Location: loc}
				}
			}
			wmu.Lock()
			for k, v := range mine {
				want[k] = v
			}
			wmu.Unlock()
		}()
	}
	wg.Wait()
	res.add("backends/seconds", int64(time.Since(start).Seconds()))

	// every slave now has the end state (PARTIAL-UPDATE: its hosts only)
	for s, mr := range slaves {
		nctx, ncancel := context.WithTimeout(ctx, 30*time.Second)
		err := mr.c.Noop(nctx)
		ncancel()
		if err != nil {
			res.fail("slave %d NOOP: %v", s, err)
			continue
		}
		mr.mu.Lock()
		n, bad := 0, 0
		for k, w := range want {
			if mr.hosts != nil && !slices.Contains(mr.hosts, mupdate.ServerOf(w.Location)) {
				continue
			}
			n++
			if got, ok := mr.m[k]; !ok || got != w {
				bad++
				if bad <= 3 {
					res.fail("slave %d: %s is %+v, want %+v", s, k, got, w)
				}
			}
		}
		// A PARTIAL-UPDATE slave also keeps the last record of a mailbox
		// that moved away from its hosts (the change matched the old
		// location): only the records at its hosts are counted.
		held := 0
		for _, m := range mr.m {
			if mr.hosts == nil || slices.Contains(mr.hosts, mupdate.ServerOf(m.Location)) {
				held++
			}
		}
		if held != n {
			res.fail("slave %d holds %d mailboxes, want %d", s, held, n)
		}
		mr.mu.Unlock()
		res.add("slaves/mailboxes checked", int64(n))
		res.add("slaves/mismatches", int64(bad))
	}
	if cfg.serverAlive != nil {
		if err := cfg.serverAlive(); err != nil {
			res.fail("server process: %v", err)
			res.add("crashes", 1)
		}
	}
	// a newcomer still logs in and works
	c, err := mupdateclient.Dial(ctx, cfg.addr, nil)
	if err == nil {
		err = c.Authenticate(ctx, cfg.admin, cfg.adminPW, "PLAIN")
	}
	if err == nil {
		_, _, err = c.Find(ctx, soakName(0, 0))
		c.Close()
	}
	if err != nil {
		res.fail("a newcomer after the soak: %v", err)
		res.add("newcomer after the soak refused", 1)
	}
	cancel()
	bg.Wait()
	return res
}

func (r *mixResult) report(t *testing.T, who string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.counts))
	for k := range r.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %d\n", k, r.counts[k])
	}
	t.Logf("%s:\n%s  memory peak: %.1f MiB (%d samples)", who, b.String(), float64(slices.Max(append([]int64{0}, r.samples...)))/(1<<20), len(r.samples))
}

// TestMupdateServerSoak runs the mix against the bridge (MUPDATE server on
// the registry adapter, goleveldb) with small stream caps, so that stalled
// readers are dropped within a CI-sized run.
func TestMupdateServerSoak(t *testing.T) {
	n := soakCount(t, 3000)
	var logs syncLog
	cr, err := creds.Parse(strings.NewReader("murder:murderpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv := mupdatetest.Start(t, mupdateserver.Config{Backend: bridge.New(openStore(t)), Auth: cr,
		Logger:           slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		StreamMaxBytes:   1 << 20,
		StreamTotalBytes: 4 << 20,
		LoginTimeout:     3 * time.Second,
		FailedLoginPause: -1,
		CommandTimeout:   2 * time.Second,
	})
	goroutines := runtime.NumGoroutine()
	res := runMix(t, mixConfig{addr: srv.Addr, admin: "murder", adminPW: "murderpw", writes: n,
		backends: 4, slaves: 3, strangers: 200, stalled: 4, garbageConns: 4, readers: 2,
		sampleMemory: func() int64 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return int64(ms.HeapInuse + ms.StackInuse)
		}})
	st := srv.Stats()
	res.report(t, "murder-bridge MUPDATE server")
	t.Logf("server stats: %+v", st)
	for _, e := range res.errs {
		t.Error(e)
	}
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("a panic was logged:\n%s", logs.String())
	}
	if st.StreamBytesPeak > 4<<20 {
		t.Errorf("streams held %d bytes at the peak, over the 4 MiB total cap", st.StreamBytesPeak)
	}
	if res.counts["slaves/mismatches"] != 0 || res.counts["slaves/mailboxes checked"] == 0 {
		t.Errorf("slaves: %d mismatches in %d checked", res.counts["slaves/mismatches"], res.counts["slaves/mailboxes checked"])
	}
	if st.Refused["per_address"] != 200-128 {
		t.Errorf("strangers refused per address: %d, want %d", st.Refused["per_address"], 200-128)
	}
	// every connection ends; nothing is left behind
	srv.Close()
	eventually.WaitTrue(10*time.Second, func() bool { return srv.Conns() == 0 }) // checked next
	if c := srv.Conns(); c != 0 {
		t.Errorf("%d connections still open after Close", c)
	}
	if b := srv.Stats().StreamBytes; b != 0 {
		t.Errorf("streams still hold %d bytes after Close", b)
	}
	eventually.WaitTrue(5*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines+10 }) // logged next
	t.Logf("goroutines: %d before, %d after", goroutines, runtime.NumGoroutine())
}

// TestMupdateServerSoakCyrus runs the same mix against a real Cyrus 3.6.1
// master for comparison, twice: with the 200 strangers (more than Cyrus's
// mupdate_connections_max of 128), then without them. It records whether
// the master survives, whether its slaves stay exact and its memory (RSS
// of the mupdate process); it fails only when the comparison could not be
// made (no master, no memory samples, no write at all).
func TestMupdateServerSoakCyrus(t *testing.T) {
	n := soakCount(t, 1000)
	master := murdertest.StartMaster(t, murdertest.Options{})
	pid := func() int { return mupdatePID(master.Conf) }
	first := pid()
	if first == 0 {
		t.Fatalf("no mupdate process of %s", master.Conf)
	}
	for _, strangers := range []int{200, 0} {
		res := runMix(t, mixConfig{addr: master.MupdateAddr, admin: "murder", adminPW: master.Users["murder"], writes: n,
			backends: 4, slaves: 3, strangers: strangers, stalled: 4, garbageConns: 4, readers: 2,
			sampleMemory: func() int64 { return rssOf(pid()) },
			serverAlive: func() error {
				if p := pid(); p != first {
					return fmt.Errorf("the mupdate process %d is gone (now %d)", first, p)
				}
				return nil
			}})
		res.report(t, fmt.Sprintf("Cyrus 3.6.1 mupdate -m, %d strangers", strangers))
		for _, e := range res.errs {
			t.Logf("Cyrus: %s", e)
		}
		if res.counts["crashes"] > 0 {
			var lines []string
			for _, l := range strings.Split(master.Log(), "\n") {
				if strings.Contains(l, "signaled") || strings.Contains(l, "exited") || strings.Contains(l, "fatal") ||
					strings.Contains(l, "assert") || strings.Contains(l, "IOERROR") {
					lines = append(lines, l)
				}
			}
			t.Logf("Cyrus's mupdate process died; its log says:\n%s", strings.Join(lines[max(0, len(lines)-15):], "\n"))
			first = pid() // cyrmaster restarted it (or not: 0)
		}
		if len(res.samples) == 0 {
			t.Fatal("no memory sample of the Cyrus mupdate process")
		}
		if strangers == 0 && res.counts["backends/ACTIVATE OK"] == 0 {
			t.Fatal("not one write reached the Cyrus master without strangers: the comparison says nothing")
		}
		// wait until the master greets again (it frees the strangers'
		// slots only as its workers see them closed)
		t0 := time.Now()
		if err := eventually.Wait(3*time.Minute, func() error {
			nc, err := net.Dial("tcp", master.MupdateAddr)
			if err != nil {
				return err
			}
			defer nc.Close()
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			l, _ := bufio.NewReader(nc).ReadString('\n')
			if !strings.HasPrefix(l, "* AUTH") && !strings.HasPrefix(l, "* OK") {
				return fmt.Errorf("first line %q", l)
			}
			return nil
		}); err != nil {
			t.Fatalf("the Cyrus master still refuses connections %v after the strangers left: %v", time.Since(t0), err)
		}
		t.Logf("Cyrus greets again %v after the run's clients closed", time.Since(t0).Round(100*time.Millisecond))
	}
}

// mupdatePID finds the `mupdate` process run for the imapd.conf conf.
func mupdatePID(conf string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "mupdate") && slices.Contains(args, conf) {
			return pid
		}
	}
	return 0
}

// rssOf is the resident set of pid in bytes (0 when it is gone).
func rssOf(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
