package cyrusimapd

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
)

// Options choose the namespace settings and users of one server.
type Options struct {
	UnixHierarchySep bool // unixhierarchysep: yes ('/' delimiter)
	AltNamespace     bool // altnamespace: yes
	VirtDomains      bool // virtdomains: userid
	TLS              bool // a self-signed certificate, STARTTLS on imap and an imaps service
	// Users maps login names (local or local@domain) to passwords. "admin"
	// (password "adminpw") is always added and is the Cyrus admin.
	Users map[string]string
	Extra []string // more imapd.conf lines
	// BaseDir holds the server's temporary directory ("" : the system
	// default); benchmarks use /dev/shm, as ctl_mboxlist -u fsyncs once
	// per mailbox.
	BaseDir string
}

// Server is one running Cyrus imapd.
type Server struct {
	Dir        string
	Conf       string
	Addr       string // imap, 127.0.0.1:port
	TLSAddr    string // imaps, when Options.TLS
	CertFile   string // PEM of the self-signed certificate, when Options.TLS
	Servername string
}

// AdminUser and AdminPassword log in as the Cyrus admin.
const (
	AdminUser     = "admin"
	AdminPassword = "adminpw"
)

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a server and stops it at the end of the test.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	cyrmaster := "/usr/sbin/cyrmaster"
	if _, err := os.Stat(cyrmaster); err != nil {
		cyrmaster = cyrustest.Tool(t, "master")
	}
	imapd := cyrustest.Tool(t, "imapd")
	ctl := cyrustest.Tool(t, "ctl_cyrusdb")
	if _, err := os.Stat("/usr/sbin/saslpasswd2"); err != nil {
		t.Fatalf("saslpasswd2 is not installed (%v): apt-get install sasl2-bin", err)
	}
	dir, err := os.MkdirTemp(o.BaseDir, "murderkit-imapd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	s := &Server{Dir: dir, Conf: filepath.Join(dir, "imapd.conf"), Servername: "shadowtest.local"}
	port := freePort(t)
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	conf := filepath.Join(dir, "conf")
	for _, d := range []string{"socket", "proc", "lock", "log", "db", "user", "quota", "sieve", "msg", "ptclient", "sync"} {
		if err := os.MkdirAll(filepath.Join(conf, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "spool"), 0o750)
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	lines := []string{
		"servername: " + s.Servername,
		"configdirectory: " + conf,
		"partition-default: " + filepath.Join(dir, "spool"),
		"defaultpartition: default",
		"admins: " + AdminUser,
		"sasl_pwcheck_method: auxprop",
		"sasl_auxprop_plugin: sasldb",
		"sasl_sasldb_path: " + filepath.Join(dir, "sasldb2"),
		"allowplaintext: yes",
		"sasl_mech_list: PLAIN LOGIN",
		"unixhierarchysep: " + yn(o.UnixHierarchySep),
		"altnamespace: " + yn(o.AltNamespace),
		"syslog_prefix: murderkit-shadowtest",
	}
	if o.VirtDomains {
		lines = append(lines, "virtdomains: userid")
	}
	services := fmt.Sprintf("  imap cmd=\"%s -C %s\" listen=\"%s\" prefork=0\n", imapd, s.Conf, s.Addr)
	if o.TLS {
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := writeSelfSigned(cert, key); err != nil {
			t.Fatal(err)
		}
		s.CertFile = cert
		lines = append(lines, "tls_server_cert: "+cert, "tls_server_key: "+key)
		s.TLSAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		services += fmt.Sprintf("  imaps cmd=\"%s -s -C %s\" listen=\"%s\" prefork=0\n", imapd, s.Conf, s.TLSAddr)
	}
	lines = append(lines, o.Extra...)
	if err := os.WriteFile(s.Conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cyrusConf := filepath.Join(dir, "cyrus.conf")
	cc := fmt.Sprintf("START {\n  recover cmd=\"%s -C %s -r\"\n}\nSERVICES {\n%s}\nEVENTS {\n}\n", ctl, s.Conf, services)
	if err := os.WriteFile(cyrusConf, []byte(cc), 0o644); err != nil {
		t.Fatal(err)
	}
	users := map[string]string{AdminUser: AdminPassword}
	for u, p := range o.Users {
		users[u] = p
	}
	for u, p := range users {
		// Cyrus passes no user realm to SASL, so the realm is the
		// servername, or the domain of a user@domain login under
		// virtdomains.
		local, realm := u, s.Servername
		if i := strings.IndexByte(u, '@'); i >= 0 && o.VirtDomains {
			local, realm = u[:i], u[i+1:]
		}
		cmd := exec.Command("/usr/sbin/saslpasswd2", "-p", "-c", "-f", filepath.Join(dir, "sasldb2"), "-u", realm, local)
		cmd.Stdin = strings.NewReader(p)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("saslpasswd2 %s: %v: %s", u, err, out)
		}
	}
	if err := cyrustest.Chown(dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cyrmaster, "-C", s.Conf, "-M", cyrusConf, "-p", filepath.Join(dir, "master.pid"), "-L", filepath.Join(dir, "master.log"))
	// Pdeathsig: a test binary killed before its cleanup (a pipe closed
	// under it, a timeout) takes the server down with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start cyrmaster: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	if err := cyrustest.WaitGreeting(s.Addr, 30*time.Second, done); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "master.log"))
		t.Fatalf("Cyrus imapd: %v\nmaster.log: %s", err, log)
	}
	return s
}

// Conn is a minimal line-oriented IMAP session used to set servers up.
type Conn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
	// Timeout bounds one command (default 30s; a LIST over a million
	// mailboxes takes longer).
	Timeout time.Duration
}

// Dial logs in with LOGIN.
func (s *Server) Dial(t testing.TB, user, password string) *Conn {
	t.Helper()
	cn := s.DialRaw(t)
	cn.Must(t, "LOGIN "+quote(user)+" "+quote(password))
	return cn
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Run sends one command and returns the untagged lines and the tagged
// status line.
func (cn *Conn) Run(t testing.TB, cmd string) (untagged []string, status string) {
	t.Helper()
	cn.tag++
	tag := "s" + strconv.Itoa(cn.tag)
	to := cn.Timeout
	if to <= 0 {
		to = 30 * time.Second
	}
	cn.c.SetDeadline(time.Now().Add(to))
	if _, err := fmt.Fprintf(cn.c, "%s %s\r\n", tag, cmd); err != nil {
		t.Fatal(err)
	}
	for {
		line, err := cn.r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, tag+" ") {
			return untagged, line[len(tag)+1:]
		}
		untagged = append(untagged, line)
	}
}

// Must runs a command and fails the test unless it answers OK.
func (cn *Conn) Must(t testing.TB, cmd string) []string {
	t.Helper()
	u, st := cn.Run(t, cmd)
	if !strings.HasPrefix(st, "OK") {
		t.Fatalf("%s: %s", cmd, st)
	}
	return u
}

// Admin runs commands as the Cyrus admin, failing the test on any non-OK.
func (s *Server) Admin(t testing.TB, cmds ...string) {
	t.Helper()
	cn := s.Dial(t, AdminUser, AdminPassword)
	defer cn.c.Close()
	for _, c := range cmds {
		cn.Must(t, c)
	}
	cn.Run(t, "LOGOUT")
}

func writeSelfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
}

// Undump loads a Cyrus 3.6 JSON dump into the server's mailboxes.db with
// `ctl_mboxlist -u` (mailboxes.db entries only: no spool directories, which
// LIST does not need).
func (s *Server) Undump(t testing.TB, dump io.Reader) {
	t.Helper()
	cmd := cyrustest.AsCyrus(cyrustest.Tool(t, "ctl_mboxlist"), "-C", s.Conf, "-u")
	cmd.Stdin = dump
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ctl_mboxlist -u: %v: %s", err, out)
	}
}

// DialRaw connects without logging in.
func (s *Server) DialRaw(t testing.TB) *Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cn := &Conn{c: c, r: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := cn.r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return cn
}
