package registry_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// TestVisibleMatchesCyrusLISTDomains: with virtdomains: userid, a user
// local@domain sees only that domain's mailboxes; Visible gives the same
// names, in the same order, as real Cyrus 3.6.1's LIST "" "*".
func TestVisibleMatchesCyrusLISTDomains(t *testing.T) {
	be := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true, Extra: []string{"virtdomains: userid"}})
	// SASL users in their own realms (the domain part of the userid).
	for _, u := range []struct{ user, realm, pw string }{{"jane", "example.com", "janepw"}, {"joe", "example.com", "joepw"}, {"jane", "other.org", "otherpw"}} {
		cmd := exec.Command("/usr/sbin/saslpasswd2", "-p", "-c", "-f", filepath.Join(be.Dir, "sasldb2"), "-u", u.realm, u.user)
		cmd.Stdin = strings.NewReader(u.pw)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("saslpasswd2: %v: %s", err, out)
		}
	}
	admin := be.IMAPAs(t, "admin")
	for _, st := range []struct{ create, id, rights string }{
		{"user.jane@example.com", "", ""},
		{"user.jane.Sent@example.com", "", ""},
		{"user.jane.Team@example.com", "joe@example.com", "lr"},
		{"user.joe@example.com", "", ""},
		{"shared.news@example.com", "anyone", "lr"},
		{"user.jane@other.org", "", ""},
		{"shared.global", "anyone", "lr"},
	} {
		if err := admin.Create(st.create); err != nil {
			t.Fatalf("CREATE %s: %v\n%s", st.create, err, be.CtlMboxlist(t, "-d"))
		}
		if st.id != "" {
			if err := admin.SetACL(st.create, st.id, st.rights); err != nil {
				t.Fatalf("SETACL %s: %v", st.create, err)
			}
		}
	}
	ctx := context.Background()
	s, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := mboxlist.NewJSONDecoder(bytes.NewReader(be.CtlMboxlist(t, "-d")))
	var batch []registry.Entry
	for d.Next() {
		batch = append(batch, registry.Entry{Entry: *d.Entry()})
	}
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ userid, pw string }{{"jane@example.com", "janepw"}, {"joe@example.com", "joepw"}, {"jane@other.org", "otherpw"}} {
		cyrus := cyrusListDomain(t, be.IMAPAddr, u.userid, u.pw)
		got, err := s.Visible(ctx, u.userid, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cyrus, got); diff != "" {
			t.Errorf("Visible(%s) vs Cyrus LIST (-cyrus +registry):\n%s", u.userid, diff)
		} else {
			t.Logf("%s: same names in the same order as Cyrus: %q", u.userid, got)
		}
	}
}

// cyrusListDomain lists as userid and maps the names back to internal names:
// Cyrus shows a domain user its own domain's names without the domain.
func cyrusListDomain(t *testing.T, addr, userid, pw string) []string {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(userid, pw).Wait(); err != nil {
		t.Fatalf("login %s: %v", userid, err)
	}
	data, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	local, domain, _ := strings.Cut(userid, "@")
	var out []string
	for _, l := range data {
		for _, a := range l.Attrs {
			if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
				t.Errorf("placeholder %q %v", l.Mailbox, l.Attrs)
			}
		}
		name, err := mboxlist.EncodeMUTF7(l.Mailbox)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.EqualFold(name, "INBOX"):
			name = "user." + local
		case len(name) > 6 && strings.EqualFold(name[:6], "INBOX."):
			name = "user." + local + name[5:]
		}
		out = append(out, domain+"!"+name)
	}
	return out
}
