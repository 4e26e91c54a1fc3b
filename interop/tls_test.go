package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// selfSigned writes a certificate for 127.0.0.1 and its key (PEM), readable
// by the cyrus user.
func selfSigned(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "murderkit-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return cert, key
}

// With --require-tls, PLAIN is hidden before STARTTLS; a real Cyrus backend
// forced to PLAIN finds no usable mechanism, upgrades with STARTTLS (as
// backend_authenticate does on SASL_NOMECH), authenticates and creates.
func TestRealBackendSTARTTLS(t *testing.T) {
	cert, key := selfSigned(t)
	b := startTLSBridge(t, cert, key)
	be := murdertest.StartBackend(t, b.Addr, murdertest.Options{
		Extra: []string{"tls_client_ca_file: " + cert}})
	s := be.IMAPAs(t, "admin")
	if err := s.Create("user.tls"); err != nil {
		t.Fatalf("CREATE through a TLS-only bridge: %v\nbackend syslog:\n%s", err, be.Log())
	}
	if e, err := b.Store.Get(context.Background(), "user.tls"); err != nil || e.Server != be.Servername {
		t.Fatalf("registry: %+v %v", e, err)
	}
	if !strings.Contains(b.Logs.String(), "tls=true") {
		t.Errorf("the bridge logged no TLS login:\n%s", b.Logs.String())
	}
}

// tlsBridge is the bridge (serveOurs) with --require-tls and cert/key, on leveldb.
type tlsBridge struct {
	Addr  string
	Store registry.Store
	Logs  *lockedBuffer
}

func startTLSBridge(t *testing.T, cert, key string) *tlsBridge {
	t.Helper()
	return startTLSBridgeWith(t, cert, key, true, mupdateserver.Config{})
}

// startTLSBridgeWith is startTLSBridge with TLS required or only offered,
// and the MUPDATE server's settings.
func startTLSBridgeWith(t *testing.T, cert, key string, requireTLS bool, srv mupdateserver.Config) *tlsBridge {
	t.Helper()
	dir := t.TempDir()
	st, err := leveldb.Open(context.Background(), filepath.Join(dir, "registry"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "credentials")
	os.WriteFile(cf, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveOurs(ctx, ourConfig{Store: st, Listener: ln, Credentials: cf, Admins: []string{"murder", "admin"},
			RequireTLS: requireTLS, TLSCert: cert, TLSKey: key, Logger: newTestLogger(logs), Server: srv})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
		if t.Failed() {
			t.Logf("murder-bridge log:\n%s", logs.String())
		}
	})
	return &tlsBridge{Addr: ln.Addr().String(), Store: st, Logs: logs}
}

// A frontend's mupdate slave against a bridge that hides PLAIN before TLS,
// for each release (Cyrus 3.6.1 on the host, 3.2.6, 3.10.2, 3.12.4 in their
// chroots): the slave (Cyrus's mupdate without -m, forced to PLAIN)
// upgrades with STARTTLS by itself, syncs, and its UPDATE stream carries a
// backend's later creates to the frontend's LIST. The TLS client of every
// one of these releases never verifies the server's certificate
// (tls_init_clientengine sets SSL_VERIFY_NONE; the verify callback only
// logs): a frontend whose tls_server_ca_file is another CA logs "verify
// error" and syncs all the same, which this test pins down
// (docs/interop.md says what it means for operators).
func TestRealFrontendSlaveSTARTTLS(t *testing.T) {
	for _, v := range []string{"3.6", "3.2", "3.10", "3.12"} {
		t.Run(v, func(t *testing.T) { frontendSlaveSTARTTLS(t, cyrustest.ReleaseOf(t, v)) })
	}
}

// inRelease copies file into a fresh directory the release's processes
// see (under its chroot's /tmp, readable by its cyrus user) and returns
// the path they know it by; for the host's release, file itself.
func inRelease(t *testing.T, rel cyrustest.Release, file string) string {
	t.Helper()
	if rel.Root == "" {
		return file
	}
	dir, err := os.MkdirTemp(filepath.Join(rel.Root, "tmp"), "murderkit-file-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, filepath.Base(file))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return "/" + strings.TrimPrefix(strings.TrimPrefix(p, rel.Root), "/")
}

func frontendSlaveSTARTTLS(t *testing.T, rel cyrustest.Release) {
	cert, key := selfSigned(t)
	other, _ := selfSigned(t) // a CA the bridge's certificate is not signed by
	b := startTLSBridge(t, cert, key)
	be := murdertest.StartBackend(t, b.Addr, murdertest.Options{Release: rel})
	s := be.IMAPAs(t, "admin")
	if err := s.Create("user.before"); err != nil {
		t.Fatalf("CREATE through a TLS-only bridge: %v\nbackend syslog:\n%s", err, be.Log())
	}
	// StartFrontend returns once the slave's listener greets, i.e. after its
	// first UPDATE sync, which needs the STARTTLS login.
	fe := murdertest.StartFrontend(t, b.Addr, murdertest.Options{Name: "fe-trusts", Release: rel,
		Serverlist: []string{be.Servername}, Extra: []string{"tls_server_ca_file: " + inRelease(t, rel, cert)}})
	fu := murdertest.StartFrontend(t, b.Addr, murdertest.Options{Name: "fe-untrusting", Release: rel,
		Serverlist: []string{be.Servername}, Extra: []string{"tls_server_ca_file: " + inRelease(t, rel, other)}})

	if err := s.Create("user.after"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create("user.after.Sub"); err != nil {
		t.Fatal(err)
	}
	want := []string{"user.after", "user.after.Sub", "user.before"}
	for _, f := range []*murdertest.Instance{fe, fu} {
		a := f.IMAPAs(t, "admin")
		var got []string
		if err := murdertest.Eventually(15*time.Second, func() error {
			var err error
			got, err = a.Names("user.*")
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("LIST user.* through %s = %v, want %v", f.Name, got, want)
			}
			return nil
		}); err != nil {
			t.Errorf("%v\n%s syslog:\n%s", err, f.Name, f.Log())
		}
	}
	// every login the bridge accepted was over TLS: the backend's imapd
	// (for each CREATE) and both slaves
	logins, overTLS := 0, 0
	for _, l := range strings.Split(b.Logs.String(), "\n") {
		if strings.Contains(l, `msg="mupdate: login"`) {
			logins++
			if strings.Contains(l, " tls=true") {
				overTLS++
			}
		}
	}
	if logins < 3 || overTLS != logins {
		t.Errorf("%d logins, %d with tls=true; want >= 3, all TLS:\n%s", logins, overTLS, b.Logs.String())
	}
	// the trusting slave verified without complaint; the other one
	// complained and went on
	if strings.Contains(fe.Log(), "verify error") {
		t.Errorf("%s trusts the bridge's CA but logged a verify error:\n%s", fe.Name, fe.Log())
	}
	if !strings.Contains(fu.Log(), "verify error") {
		t.Errorf("%s does not trust the bridge's certificate but logged no verify error:\n%s", fu.Name, fu.Log())
	}
}
