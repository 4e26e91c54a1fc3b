package interop

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// hostileConn is a raw MUPDATE client for hostile input.
type hostileConn struct {
	nc net.Conn
	br *bufio.Reader
}

func dialHostile(t *testing.T, addr string) *hostileConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &hostileConn{nc: nc, br: bufio.NewReader(nc)}
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("banner from %s: %v", addr, err)
		}
		if strings.HasPrefix(l, "* OK") {
			return c
		}
	}
}

// line reads one line, or "closed" when the peer closed the connection.
func (c *hostileConn) line() string {
	l, err := c.br.ReadString('\n')
	if err != nil {
		if l != "" {
			return strings.TrimRight(l, "\r\n") + " [then closed]"
		}
		return "closed"
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *hostileConn) send(s string) { io.WriteString(c.nc, s) }

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// scramAttempt runs one SCRAM exchange with user and password, passing the
// client-final message through tamper (which may return a whole raw line
// to send instead, with raw set). It returns the tagged answer.
func scramAttempt(t *testing.T, addr, mech, user, pw string, tamper func(final string) (string, bool)) (answer, final string) {
	t.Helper()
	hf := map[string]scram.HashGeneratorFcn{"SCRAM-SHA-1": scram.SHA1, "SCRAM-SHA-256": scram.SHA256, "SCRAM-SHA-512": scram.SHA512}[mech]
	cl, err := hf.NewClient(user, pw, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	c := dialHostile(t, addr)
	c.send(fmt.Sprintf("A01 AUTHENTICATE %q %q\r\n", mech, b64s(first)))
	l := c.line()
	sf, err := base64.StdEncoding.DecodeString(l)
	if err != nil || strings.HasPrefix(l, "A01 ") {
		return l, "" // refused at the first step
	}
	final, err = conv.Step(string(sf))
	if err != nil {
		return "client: " + err.Error(), ""
	}
	out, raw := tamper(final)
	if raw {
		c.send(out + "\r\n")
	} else {
		c.send(b64s(out) + "\r\n")
	}
	l = c.line()
	if !strings.HasPrefix(l, "A01 ") && l != "closed" && !strings.HasSuffix(l, "[then closed]") {
		// the server-final challenge: answer with the empty line
		c.send("\r\n")
		l = c.line()
	}
	return l, final
}

// scramCases are the hostile SCRAM inputs (on the client-final message
// unless the case replaces the whole exchange).
type scramCase struct {
	name   string
	user   string
	pw     string
	tamper func(final string) (string, bool)
}

func scramCases(replay *string) []scramCase {
	same := func(f string) (string, bool) { return f, false }
	proof := func(f string, fn func(p string) string) string {
		i := strings.LastIndex(f, ",p=")
		if i < 0 {
			return f
		}
		return f[:i+3] + fn(f[i+3:])
	}
	return []scramCase{
		{"wrong password", "murder", "wrong-password-x", same},
		{"proof with one bit flipped", "murder", "murderpw", func(f string) (string, bool) {
			return proof(f, func(p string) string {
				b, _ := base64.StdEncoding.DecodeString(p)
				b[0] ^= 1
				return base64.StdEncoding.EncodeToString(b)
			}), false
		}},
		{"proof truncated", "murder", "murderpw", func(f string) (string, bool) { return proof(f, func(p string) string { return p[:8] }), false }},
		{"proof empty", "murder", "murderpw", func(f string) (string, bool) { return proof(f, func(string) string { return "" }), false }},
		{"proof not base64", "murder", "murderpw", func(f string) (string, bool) { return proof(f, func(string) string { return "!!!*" }), false }},
		{"no proof", "murder", "murderpw", func(f string) (string, bool) { return f[:strings.LastIndex(f, ",p=")], false }},
		{"nonce changed", "murder", "murderpw", func(f string) (string, bool) { return strings.Replace(f, ",r=", ",r=X", 1), false }},
		{"channel binding claimed", "murder", "murderpw", func(f string) (string, bool) {
			return strings.Replace(f, "c=biws", "c="+b64s("p=tls-unique,,"), 1), false
		}},
		{"response not base64", "murder", "murderpw", func(string) (string, bool) { return "%%%not-base64%%%", true }},
		{"100 KB response", "murder", "murderpw", func(string) (string, bool) { return strings.Repeat("QUFB", 25000), true }},
		{"cancel", "murder", "murderpw", func(string) (string, bool) { return "*", true }},
		{"unknown user", "nobody-here", "x", same},
		{"replayed proof of another session", "murder", "murderpw", func(f string) (string, bool) {
			if *replay != "" {
				return *replay, false
			}
			return f, false
		}},
	}
}

// SCRAM with bad proofs, against the bridge and against a real Cyrus 3.6.1
// mupdate master (same inputs): a wrong proof is refused with NO, nothing
// crashes (a good login works afterwards), and the bridge's log holds no
// secret (no password, proof or client-final message).
func TestSCRAMBadProofs(t *testing.T) {
	ours := startOurs(t)
	master := murdertest.StartMaster(t, murdertest.Options{MasterMechs: "none", Extra: []string{"failedloginpause: 0"}})
	for _, side := range []struct {
		name, addr string
		real       bool
	}{{"murder-bridge", ours.Addr, false}, {"real Cyrus master", master.MupdateAddr, true}} {
		for _, mech := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
			// a good exchange first; its client-final is replayed later
			ok, replay := scramAttempt(t, side.addr, mech, "murder", "murderpw", func(f string) (string, bool) { return f, false })
			if !strings.HasPrefix(ok, "A01 OK") {
				t.Fatalf("%s %s: a correct SCRAM login got %q", side.name, mech, ok)
			}
			for _, c := range scramCases(&replay) {
				got, final := scramAttempt(t, side.addr, mech, c.user, c.pw, c.tamper)
				if strings.HasPrefix(got, "A01 OK") {
					t.Errorf("%s %s %s: accepted (%q)", side.name, mech, c.name, got)
				}
				t.Logf("%s %s %-34s → %s", side.name, mech, c.name, got)
				if !side.real && final != "" && strings.Contains(ours.Logs.String(), final) {
					t.Errorf("%s: the log holds the client-final message", c.name)
				}
			}
			// still serving
			if ok, _ := scramAttempt(t, side.addr, mech, "murder", "murderpw", func(f string) (string, bool) { return f, false }); !strings.HasPrefix(ok, "A01 OK") {
				t.Fatalf("%s %s: after the bad proofs a correct login got %q", side.name, mech, ok)
			}
		}
	}
	for _, secret := range []string{"murderpw", "wrong-password-x", b64s("murderpw")} {
		if strings.Contains(ours.Logs.String(), secret) {
			t.Errorf("the bridge's log holds the secret %q", secret)
		}
	}
}

// clientCert makes a client certificate signed by nobody the server knows.
func clientCert(t *testing.T) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "murder"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// startOursTLS runs the bridge with STARTTLS (the certificate of cert/key).
func startOursTLS(t *testing.T, cert, key string) (string, *lockedBuffer) {
	t.Helper()
	b := startTLSBridgeWith(t, cert, key, false, mupdateserver.Config{FailedLoginPause: 50 * time.Millisecond})
	return b.Addr, b.Logs
}

// TLS misuse against the bridge and a real Cyrus master with TLS: plain
// bytes after STARTTLS (also pipelined in the same packet as STARTTLS: a
// command smuggled past the upgrade must never run), a TLS handshake
// without STARTTLS, and a client certificate nobody signed. No crash, no
// smuggled command executed, and a proper STARTTLS login works afterwards.
func TestTLSMisuse(t *testing.T) {
	cert, key := selfSigned(t)
	if err := cyrustest.Chown(filepath.Dir(key)); err != nil { // the master runs as cyrus
		t.Fatal(err)
	}
	oursAddr, logs := startOursTLS(t, cert, key)
	master := murdertest.StartMaster(t, murdertest.Options{Extra: []string{"tls_server_cert: " + cert, "tls_server_key: " + key, "failedloginpause: 0"}})
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cert)
	pool.AppendCertsFromPEM(pem)
	plainLogin := "A02 AUTHENTICATE \"PLAIN\" \"" + b64s("\x00murder\x00murderpw") + "\"\r\n"
	for _, side := range []struct{ name, addr string }{{"murder-bridge", oursAddr}, {"real Cyrus master", master.MupdateAddr}} {
		// plain bytes after the OK to STARTTLS
		c := dialHostile(t, side.addr)
		c.send("A01 STARTTLS\r\n")
		l1 := c.line()
		c.send(plainLogin)
		l2 := c.line()
		c.nc.Close()
		t.Logf("%s: STARTTLS → %q; plain AUTHENTICATE → %q", side.name, l1, l2)
		if strings.HasPrefix(l2, "A02 OK") {
			t.Errorf("%s: a plain login after STARTTLS was accepted", side.name)
		}
		// STARTTLS and a login in one packet: the login must not run
		c = dialHostile(t, side.addr)
		c.send("A01 STARTTLS\r\n" + plainLogin)
		// the server now waits for a ClientHello that never comes (the
		// pipelined bytes are dropped, not taken for one): 3 s suffice
		c.nc.SetDeadline(time.Now().Add(3 * time.Second))
		l1 = c.line()
		l2 = c.line()
		c.nc.Close()
		t.Logf("%s: STARTTLS+pipelined login → %q then %q", side.name, l1, l2)
		if strings.HasPrefix(l2, "A02") {
			t.Errorf("%s: the login pipelined after STARTTLS was answered: %q", side.name, l2)
		}
		// a TLS ClientHello without STARTTLS
		nc, err := net.Dial("tcp", side.addr)
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(nc, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		herr := tc.Handshake()
		nc.Close()
		t.Logf("%s: TLS handshake without STARTTLS → %v", side.name, herr)
		if herr == nil {
			t.Errorf("%s: a TLS handshake without STARTTLS succeeded", side.name)
		}
		// a client certificate signed by nobody: not asked for, ignored;
		// the login is still by SASL
		cl, err := mupdateclient.Dial(context.Background(), side.addr, &mupdateclient.Options{StartTLS: true,
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{clientCert(t)}}})
		if err != nil {
			t.Fatalf("%s: STARTTLS with an unknown client certificate: %v", side.name, err)
		}
		err = cl.Authenticate(context.Background(), "murder", "wrong", "PLAIN")
		t.Logf("%s: STARTTLS with an unknown client certificate, wrong password → %v", side.name, err)
		var se *mupdateclient.StatusError
		if !errors.As(err, &se) {
			t.Errorf("%s: wrong password over TLS with a client certificate: %v, want NO", side.name, err)
		}
		cl.Close()
		// still serving: a proper STARTTLS login (the bridge must; for
		// the real master the outcome is recorded)
		err = murdertest.Eventually(10*time.Second, func() error {
			cl, err := mupdateclient.Dial(context.Background(), side.addr, &mupdateclient.Options{StartTLS: true, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
			if err != nil {
				return err
			}
			defer cl.Close()
			return cl.Authenticate(context.Background(), "murder", "murderpw", "PLAIN")
		})
		t.Logf("%s: a proper STARTTLS login after the misuse → %v", side.name, err)
		if err != nil && side.name == "murder-bridge" {
			t.Errorf("%s: no login after the misuse: %v", side.name, err)
		}
	}
	if n := strings.Count(logs.String(), `msg="mupdate: login"`); n != 1 {
		t.Errorf("the bridge logged %d logins, want exactly the proper one:\n%s", n, logs.String())
	}
}
