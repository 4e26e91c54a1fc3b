package shadow_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrusimapd"
	"github.com/murderkit/murderkit/shadow"
)

// TestProxyAuthzSeesOwnView: an admin authorizing as a user with SASL PLAIN
// (authzid) on real Cyrus sees exactly what the user sees with the user's
// own password, attributes included.
func TestProxyAuthzSeesOwnView(t *testing.T) {
	o := cyrusimapd.Options{Users: fixtureUsers(false)}
	s := cyrusimapd.Start(t, o)
	users := fixture(t, s, o)
	own := imapSource(t, s)
	proxy := imapSource(t, s)
	proxy.ProxyUser, proxy.ProxyPassword = cyrusimapd.AdminUser, cyrusimapd.AdminPassword
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, u := range users {
		a, err := own.List(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		b, err := proxy.List(ctx, shadow.User{Name: u.Name})
		if err != nil {
			t.Fatalf("as %s via admin: %v", u.Name, err)
		}
		if !a.Extended || !b.Extended {
			t.Errorf("%s: LIST-EXTENDED not used against Cyrus 3.6 (own %v, proxy %v)", u.Name, a.Extended, b.Extended)
		}
		if d := shadow.Compare(a, b, shadow.CompareOptions{}); len(d) != 0 {
			t.Errorf("%s: proxy view differs from own view:\n%s", u.Name, fmtDiffs(d))
		}
	}
	// The admin listing as itself is not a user's view: Owners sees all.
	owners, err := proxy.Owners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(owners, ","); got != "alice,bob,carol" {
		t.Errorf("Owners() = %s, want alice,bob,carol", got)
	}
	// A wrong proxy password is a NO: not retried, and reported.
	proxy.ProxyPassword = "wrong"
	if _, err := proxy.List(ctx, shadow.User{Name: "alice"}); err == nil {
		t.Errorf("List with a wrong proxy password succeeded")
	}
}

func TestTLS(t *testing.T) {
	s := cyrusimapd.Start(t, cyrusimapd.Options{TLS: true, Users: map[string]string{"alice": "alicepw"}})
	s.Admin(t, "CREATE user.alice", "CREATE user.alice.Sent")
	pem, err := os.ReadFile(s.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := shadow.User{Name: "alice", Password: "alicepw"}
	for _, raw := range []string{"imaps://" + s.TLSAddr, "imap://" + s.Addr} {
		u, _ := url.Parse(raw)
		src := &shadow.IMAPSource{URL: u, TLSConfig: &tls.Config{RootCAs: pool}}
		l, err := src.List(ctx, alice)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if len(l.Mailboxes) != 2 {
			t.Errorf("%s: %v, want INBOX and INBOX.Sent", raw, l.Mailboxes)
		}
		// With a CA that did not sign the server's certificate the same
		// URL must fail: proves TLS (implicit, or STARTTLS because the
		// server offered it) was really used.
		bad := &shadow.IMAPSource{URL: u, TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}}
		if _, err := bad.List(ctx, alice); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s with an unknown CA: err = %v, want a certificate error", raw, err)
		}
	}
}
