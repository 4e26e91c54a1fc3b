package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
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
	dir := t.TempDir()
	st, err := leveldb.Open(context.Background(), filepath.Join(dir, "registry"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
			RequireTLS: true, TLSCert: cert, TLSKey: key, Logger: newTestLogger(logs)})
	}()
	defer func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("murder-bridge log:\n%s", logs.String())
		}
	}()
	be := murdertest.StartBackend(t, ln.Addr().String(), murdertest.Options{
		Extra: []string{"tls_client_ca_file: " + cert}})
	s := be.IMAPAs(t, "admin")
	if err := s.Create("user.tls"); err != nil {
		t.Fatalf("CREATE through a TLS-only bridge: %v\nbackend syslog:\n%s", err, be.Log())
	}
	if e, err := st.Get(context.Background(), "user.tls"); err != nil || e.Server != be.Servername {
		t.Fatalf("registry: %+v %v", e, err)
	}
	if !strings.Contains(logs.String(), "tls=true") {
		t.Errorf("the bridge logged no TLS login:\n%s", logs.String())
	}
}
