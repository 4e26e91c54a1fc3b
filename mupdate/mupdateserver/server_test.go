package mupdateserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

func dialClient(t testing.TB, addr, user, pw, mech string, opts *mupdateclient.Options) *mupdateclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mupdateclient.Dial(ctx, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Authenticate(ctx, user, pw, mech); err != nil {
		t.Fatalf("authenticate %s with %q: %v", user, mech, err)
	}
	return c
}

type follower struct {
	mu     sync.Mutex
	events []string
	synced chan struct{}
	done   chan error
	cancel context.CancelFunc
}

func follow(t testing.TB, c *mupdateclient.Client, hosts []string) *follower {
	f := &follower{synced: make(chan struct{}), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	t.Cleanup(cancel)
	go func() {
		f.done <- c.Update(ctx, hosts, func(ev mupdateclient.Event) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			switch {
			case ev.Type == mupdateclient.EventSynced:
				f.events = append(f.events, "SYNCED")
				close(f.synced)
			case ev.Type == mupdateclient.EventDelete:
				f.events = append(f.events, "DELETE "+ev.Name)
			case ev.Mailbox.State == mupdate.Reserved:
				f.events = append(f.events, "RESERVE "+ev.Name+" "+ev.Mailbox.Location)
			default:
				f.events = append(f.events, "MAILBOX "+ev.Name+" "+ev.Mailbox.Location+" "+ev.Mailbox.ACL)
			}
			return nil
		})
	}()
	select {
	case <-f.synced:
	case err := <-f.done:
		t.Fatalf("UPDATE ended before the full list: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no full list within 10 s")
	}
	return f
}

func (f *follower) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// TestStreamSemantics: full list in Cyrus order, then every change at once;
// PARTIAL-UPDATE matches old or new server part; a NOOP returns only after
// every change committed before it reached the client (read-your-writes).
func TestStreamSemantics(t *testing.T) {
	ts := startServer(t, nil)
	ts.be.Load(mb("user.bob", "h1!p", "bob\tlrs\t"), mb("shared", "h2!p", ""), mb("DELETED.user.x.6B0267B0", "h1!", "x\tl\t"))
	w := dialClient(t, ts.addr, "murder", "murderpw", "PLAIN", nil)
	fc := dialClient(t, ts.addr, "admin", "adminpw", "", nil)
	pc := dialClient(t, ts.addr, "admin", "adminpw", "SCRAM-SHA-256", nil)
	full := follow(t, fc, nil)
	part := follow(t, pc, []string{"h1"})
	ctx := context.Background()
	steps := []struct {
		op            func() error
		full, partial []string
	}{
		{func() error { return w.Reserve(ctx, "user.new", "h1!p") },
			[]string{"RESERVE user.new h1!p"}, []string{"RESERVE user.new h1!p"}},
		{func() error { return w.Activate(ctx, "user.new", "h1!p", "new\tlrs\t") },
			[]string{"MAILBOX user.new h1!p new\tlrs\t"}, []string{"MAILBOX user.new h1!p new\tlrs\t"}},
		{func() error { return w.Activate(ctx, "user.new", "h3!p", "new\tlrs\t") }, // moved away from h1: old matches
			[]string{"MAILBOX user.new h3!p new\tlrs\t"}, []string{"MAILBOX user.new h3!p new\tlrs\t"}},
		{func() error { return w.Activate(ctx, "user.other", "h3!p", "") }, // never on h1
			[]string{"MAILBOX user.other h3!p "}, nil},
		{func() error { return w.Delete(ctx, "user.new") }, // was on h3 only
			[]string{"DELETE user.new"}, nil},
		{func() error { return w.Delete(ctx, "user.bob") },
			[]string{"DELETE user.bob"}, []string{"DELETE user.bob"}},
	}
	wantFull := []string{"MAILBOX DELETED.user.x.6B0267B0 h1! x\tl\t", "MAILBOX shared h2!p ", "MAILBOX user.bob h1!p bob\tlrs\t", "SYNCED"}
	wantPart := []string{"MAILBOX DELETED.user.x.6B0267B0 h1! x\tl\t", "MAILBOX user.bob h1!p bob\tlrs\t", "SYNCED"}
	for i, st := range steps {
		if err := st.op(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		// NOOP on the follower: the change must already be there.
		if err := fc.Noop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := pc.Noop(ctx); err != nil {
			t.Fatal(err)
		}
		wantFull = append(wantFull, st.full...)
		wantPart = append(wantPart, st.partial...)
		if got := full.get(); !slices.Equal(got, wantFull) {
			t.Fatalf("step %d: full stream\n got  %q\n want %q", i, got, wantFull)
		}
		if got := part.get(); !slices.Equal(got, wantPart) {
			t.Fatalf("step %d: partial stream\n got  %q\n want %q", i, got, wantPart)
		}
	}
}

// TestSlowUpdateClient: a client that sends UPDATE and never reads must not
// slow writers or other clients; it is disconnected once it is StreamQueue
// changes (and the socket buffers) behind.
func TestSlowUpdateClient(t *testing.T) {
	ts := startServer(t, func(c *mupdateserver.Config) {
		c.StreamQueue = 5000
		c.WriteTimeout = 500 * time.Millisecond
	})
	slow := dialRaw(t, ts.addr)
	slow.login("admin", "adminpw")
	slow.send("U1 UPDATE\r\n")
	if l := slow.line(); l != "U1 OK \"streaming starts\"\r\n" {
		t.Fatalf("got %q", l)
	}
	good := dialClient(t, ts.addr, "admin", "adminpw", "PLAIN", nil)
	f := follow(t, good, nil)
	w := dialClient(t, ts.addr, "murder", "murderpw", "PLAIN", nil)
	ctx := context.Background()
	acl := strings.Repeat("someone\tlrswipkxtecdan\t", 40) // ~1 KiB a change
	const n = 20000                                        // ~20 MB: more than the socket buffers hold
	start := time.Now()
	var worst time.Duration
	for i := range n {
		t0 := time.Now()
		if err := w.Activate(ctx, fmt.Sprintf("user.u%05d", i), "h!p", acl); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
	}
	t.Logf("%d ACTIVATEs in %v, slowest %v", n, time.Since(start), worst)
	if worst > 2*time.Second {
		t.Errorf("a write took %v while a client was not reading", worst)
	}
	nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := good.Noop(nctx); err != nil {
		t.Fatal(err)
	}
	if got := len(f.get()); got != n+1 {
		t.Fatalf("the reading client got %d events, want %d", got, n+1)
	}
	// The slow one was cut off: draining its socket ends in EOF.
	slow.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(slow.br)
	if err != nil {
		t.Fatalf("slow client: %v after %d bytes", err, len(rest))
	}
	if len(rest) >= n*len(acl) {
		t.Fatalf("slow client received everything (%d bytes)", len(rest))
	}
}

// TestMaxConns: when every connection is logged in, one more is refused;
// when one has not logged in, it is the one closed to make room.
func TestMaxConns(t *testing.T) {
	ts := startServer(t, func(c *mupdateserver.Config) { c.MaxConns = 2 })
	a, b := dialRaw(t, ts.addr), dialRaw(t, ts.addr)
	a.login("admin", "adminpw")
	b.until("* OK")
	e := dialRaw(t, ts.addr) // closes b, which has not logged in
	if got := b.until("* BYE"); got[len(got)-1] != "* BYE \"server full; closing a connection that has not logged in\"\r\n" {
		t.Fatalf("b: %q", got)
	}
	e.login("admin", "adminpw")
	c := dialRaw(t, ts.addr)
	if l := c.line(); l != "* BYE \"Server Unable\"\r\n" {
		t.Fatalf("third connection: %q", l)
	}
	a.send("Q1 LOGOUT\r\n")
	a.until("Q1 OK")
	eventually.True(t, 5*time.Second, "the logged-out connection is gone", func() bool { return ts.srv.Conns() <= 1 })
	d := dialRaw(t, ts.addr)
	d.until("* OK MUPDATE")
}

func TestReadOnlyIdentity(t *testing.T) {
	ts := startServer(t, func(c *mupdateserver.Config) { c.AllowReadOnly = true })
	ts.be.Load(mb("user.alice", "h!p", "alice\tlrs\t"))
	c := dialRaw(t, ts.addr)
	c.login("alice", "alicepw")
	c.send("F1 FIND \"user.alice\"\r\n")
	c.until("F1 OK \"Search completed\"")
	c.send("R1 RESERVE \"user.x\" \"h!p\"\r\nD1 DELETE \"user.alice\"\r\n")
	if l := c.line(); l != "R1 NO \"read-only session\"\r\n" {
		t.Fatalf("got %q", l)
	}
	if l := c.line(); l != "D1 NO \"read-only session\"\r\n" {
		t.Fatalf("got %q", l)
	}
	if _, ok, _ := ts.be.Lookup(context.Background(), "user.alice"); !ok {
		t.Fatal("a read-only identity deleted a mailbox")
	}
}

// TestBadInput: every kind of bad input gets BAD, NO or a closed
// connection, and never disturbs another connection.
func TestBadInput(t *testing.T) {
	ts := startServer(t, func(c *mupdateserver.Config) {
		c.CommandTimeout = 300 * time.Millisecond
		c.Limits.MaxString = 4096
	})
	bystander := dialClient(t, ts.addr, "admin", "adminpw", "PLAIN", nil)
	for _, tc := range []struct {
		name  string
		auth  bool
		input string
		want  []string // lines, in order; "EOF" for a closed connection
	}{
		{"garbage", false, "\x00\x01\x02 \xff\xfe\r\n", []string{"\x00\x01\x02 BAD \"Unrecognized command\"\r\n"}},
		{"binary tag unknown", false, "\xff\xff BOGUS\r\n", []string{"\xff\xff BAD \"Unrecognized command\"\r\n"}},
		{"only tag", true, "T1\r\n", []string{"* BAD \"Need command\"\r\n"}},
		{"null command", true, "T1 \r\n", []string{"T1 BAD \"Null command\"\r\n"}},
		{"huge literal", true, "T1 FIND {99999999+}\r\n", []string{"* BYE \"[TOOBIG] input exceeds a limit\"\r\n", "EOF"}},
		{"huge sync literal", true, "T1 FIND {99999999}\r\n", []string{"* BYE \"[TOOBIG] input exceeds a limit\"\r\n", "EOF"}},
		{"long word", true, strings.Repeat("x", 100000), []string{"* BYE \"[TOOBIG] input exceeds a limit\"\r\n", "EOF"}},
		{"long quoted", true, "T1 FIND \"" + strings.Repeat("x", 5000) + "\"\r\n", []string{"* BYE \"[TOOBIG] input exceeds a limit\"\r\n", "EOF"}},
		{"literal with NUL", true, "T1 FIND {3+}\r\na\x00b\r\n", []string{"T1 BAD \"Extra arguments\"\r\n"}},
		{"literal too short then line", true, "T1 FIND {5}\r\n", []string{"+ go ahead\r\n"}},
		{"half line", true, "T1 FIND \"user", []string{"* BYE \"idle timeout\"\r\n", "EOF"}},
		{"bad literal header", true, "T1 FIND {x}\r\n", []string{"T1 BAD \"Extra arguments\"\r\n"}},
		{"unterminated quote", true, "T1 FIND \"abc\r\nT2 NOOP\r\n", []string{"T1 BAD \"Extra arguments\"\r\n", "T2 OK \"Noop done\"\r\n"}},
		{"eatline skips literal", true, "T1 BOGUS {5+}\r\nT2 NO\r\nT3 NOOP\r\n", []string{"T1 BAD \"Unrecognized command\"\r\n", "T3 OK \"Noop done\"\r\n"}},
		{"31 update hosts", true, "U1 UPDATE" + strings.Repeat(" \"h\"", 31) + "\r\n", []string{"U1 BAD \"Extra arguments\"\r\n"}},
		{"atom arg to activate", true, "A1 ACTIVATE user.x \"l\" \"a\"\r\n", []string{"A1 BAD \"Missing arguments\"\r\n"}},
		{"update atom", true, "U1 UPDATE host\r\n", []string{"U1 BAD \"Badly formed arguments\"\r\n"}},
		{"starttls without tls", false, "S1 STARTTLS\r\n", []string{"S1 BAD \"Unrecognized command\"\r\n"}},
		{"auth unknown mech", false, "A1 AUTHENTICATE \"CRAM-MD5\"\r\n", []string{"A1 NO \"undefined error!\"\r\n"}},
		{"auth bad base64", false, "A1 AUTHENTICATE \"PLAIN\" \"!!!\"\r\n", []string{"A1 NO \"undefined error!\"\r\n"}},
		{"auth atom (liberal)", false, "A1 AUTHENTICATE PLAIN " + b64("\x00admin\x00adminpw") + "\r\n", []string{"A1 OK \"Authenticated\"\r\n"}},
		{"auth authzid other user", false, "A1 AUTHENTICATE \"PLAIN\" \"" + b64("bob\x00admin\x00adminpw") + "\"\r\n", []string{"A1 NO \"undefined error!\"\r\n"}},
		{"lowercase + tabs in quoted", true, "f2 find \"a\tb\"\r\n", []string{"f2 OK \"Search completed\"\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			if tc.auth {
				c.login("admin", "adminpw")
			} else {
				c.until("* OK")
			}
			c.send(tc.input)
			for _, want := range tc.want {
				if want == "EOF" {
					c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
					if b, err := c.br.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
						t.Fatalf("want a closed connection, read %q %v", b, err)
					}
					continue
				}
				if got := c.line(); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			if _, _, err := bystander.Find(context.Background(), "user.x"); err != nil {
				t.Fatalf("another connection was disturbed: %v", err)
			}
		})
	}
}

func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestStartTLSAndRequireTLS(t *testing.T) {
	srvTLS, pool := selfSigned(t)
	ts := startServer(t, func(c *mupdateserver.Config) {
		c.TLSConfig = srvTLS
		c.RequireTLS = true
	})
	// Before TLS: STARTTLS offered, PLAIN neither offered nor accepted.
	c := dialRaw(t, ts.addr)
	banner := strings.Join(c.until("* OK"), "")
	if !strings.Contains(banner, "* STARTTLS\r\n") || strings.Contains(banner, "\"PLAIN\"") {
		t.Fatalf("banner before TLS:\n%s", banner)
	}
	c.send("A1 AUTHENTICATE \"PLAIN\" \"" + b64("\x00admin\x00adminpw") + "\"\r\n")
	if l := c.line(); l != "A1 NO \"undefined error!\"\r\n" {
		t.Fatalf("PLAIN before TLS: %q", l)
	}
	// With TLS: the banner again, without STARTTLS, with PLAIN.
	ctx := context.Background()
	cl, err := mupdateclient.Dial(ctx, ts.addr, &mupdateclient.Options{StartTLS: true, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if b := cl.Banner(); b.StartTLS || !slices.Contains(b.Mechanisms, "PLAIN") {
		t.Fatalf("banner after TLS: %+v", b)
	}
	if err := cl.Authenticate(ctx, "admin", "adminpw", "PLAIN"); err != nil {
		t.Fatal(err)
	}
	if err := cl.StartTLS(ctx, &tls.Config{RootCAs: pool}); err == nil {
		t.Fatal("second STARTTLS accepted")
	}
}

// TestHashedCredentials: a {SCRAM-SHA-256} secret serves SCRAM-SHA-256 and
// PLAIN, but not SCRAM-SHA-512; wrong passwords fail.
func TestHashedCredentials(t *testing.T) {
	h, err := creds.Hash("SCRAM-SHA-256", "s3cret", 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := creds.Parse(strings.NewReader("ops:" + h + "\nadmin:adminpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *mupdateserver.Config) {
		c.Auth = st
		c.Mechanisms = nil // derived from the store
		c.Admins = []string{"ops"}
	})
	ctx := context.Background()
	for _, tc := range []struct {
		mech, pw string
		ok       bool
	}{
		{"SCRAM-SHA-256", "s3cret", true}, {"PLAIN", "s3cret", true},
		{"SCRAM-SHA-256", "wrong", false}, {"PLAIN", "wrong", false},
		{"SCRAM-SHA-512", "s3cret", false},
	} {
		c, err := mupdateclient.Dial(ctx, ts.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.mech == "SCRAM-SHA-256" && !slices.Contains(c.Banner().Mechanisms, "SCRAM-SHA-256") {
			t.Fatalf("banner %q", c.Banner().Mechanisms)
		}
		if slices.Contains(c.Banner().Mechanisms, "SCRAM-SHA-512") {
			t.Fatalf("SCRAM-SHA-512 offered although ops cannot use it: %q", c.Banner().Mechanisms)
		}
		err = c.Authenticate(ctx, "ops", tc.pw, tc.mech)
		var se *mupdateclient.StatusError
		if tc.ok && err != nil || !tc.ok && !(errors.As(err, &se) && se.Text == "undefined error!") {
			t.Errorf("%s %s: %v", tc.mech, tc.pw, err)
		}
		c.Close()
	}
}
