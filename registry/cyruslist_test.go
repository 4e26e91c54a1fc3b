package registry_test

import (
	"bytes"
	"context"
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

// TestVisibleMatchesCyrusLIST: a real Cyrus 3.6.1 imapd holds mailboxes with
// owner rights, grants, negative rights and anyone; its mailboxes.db is
// dumped with ctl_mboxlist -d into the registry; for each user, Visible gives
// exactly the mailboxes, in exactly the order, that Cyrus's own LIST "" "*"
// gives that user (INBOX mapped to user.NAME: the instance runs with
// altnamespace: no, unixhierarchysep: no, so LIST names are internal names).
func TestVisibleMatchesCyrusLIST(t *testing.T) {
	be := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true, Users: map[string]string{"carol": "carolpw"}})
	admin := be.IMAPAs(t, "admin")
	steps := []struct{ create, id, rights string }{
		{"user.alice", "", ""},
		{"user.alice.Sent", "", ""},
		{"user.alice.Été 2024", "", ""}, // the client sends modified UTF-7: &AMk-t&AOk- 2024
		{"user.alice.Work", "bob", "lr"},
		{"user.alice.Work.Deep", "bob", "lrs"},
		{"user.alice.Secret", "anyone", "lr"},
		{"user.alice.Secret", "-bob", "l"},  // bob's negative l wins over anyone
		{"user.alice.ReadOnly", "bob", "r"}, // r without l: not listed
		{"user.bob", "", ""},
		{"user.bob.Inbox2", "", ""},
		{"user.carol", "", ""},
		{"user.carol.Public", "anyone", "lr"},
		{"shared", "anyone", "lrs"},
		{"shared.lab", "anyone", "lrs"},
		{"shared.bobonly", "bob", "lrs"},
		{"shared.bobonly", "anyone", ""},
		{"shared.noone", "anyone", ""},
		{"zz", "alice", "lr"},
	}
	for _, st := range steps {
		if err := admin.Create(st.create); err != nil && !strings.Contains(err.Error(), "exists") {
			t.Fatalf("CREATE %s: %v", st.create, err)
		}
		if st.id != "" {
			if st.rights == "" {
				if err := admin.SetACL(st.create, st.id, ""); err != nil {
					// DELETEACL through SETACL with empty rights
					t.Logf("SETACL %s %s \"\": %v", st.create, st.id, err)
				}
			} else if err := admin.SetACL(st.create, st.id, st.rights); err != nil {
				t.Fatalf("SETACL %s %s %s: %v", st.create, st.id, st.rights, err)
			}
		}
	}

	// The registry, filled from the real mailboxes.db.
	ctx := context.Background()
	s, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dump := be.CtlMboxlist(t, "-d")
	d := mboxlist.NewJSONDecoder(bytes.NewReader(dump))
	var batch []registry.Entry
	for d.Next() {
		e := registry.Entry{Entry: *d.Entry()}
		e.Server = be.Servername
		batch = append(batch, e)
	}
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, batch); err != nil {
		t.Fatal(err)
	}

	for _, user := range []string{"alice", "bob", "carol"} {
		cyrus := cyrusList(t, be, user)
		got, err := s.Visible(ctx, user, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cyrus, got); diff != "" {
			t.Errorf("Visible(%s) vs Cyrus LIST \"\" \"*\" as %s (-cyrus +registry):\n%s", user, user, diff)
		} else {
			t.Logf("%s: %d mailboxes, same names in the same order as Cyrus: %q", user, len(got), got)
		}
	}
}

// cyrusList logs in as user and returns LIST "" "*" in the order Cyrus sent
// it, INBOX mapped to the internal name; \Noselect/\NonExistent placeholders
// are reported separately (they are not mailboxes the user may see).
func cyrusList(t *testing.T, be *murdertest.Instance, user string) []string {
	t.Helper()
	c, err := imapclient.DialInsecure(be.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, be.Users[user]).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	data, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	inbox := "user." + strings.ReplaceAll(user, ".", "^")
	var out []string
	for _, l := range data {
		placeholder := false
		for _, a := range l.Attrs {
			if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
				placeholder = true
			}
		}
		if placeholder {
			t.Errorf("Cyrus LIST as %s shows placeholder %q %v, which Visible does not model", user, l.Mailbox, l.Attrs)
			t.Logf("Cyrus LIST as %s also shows placeholder %q %v", user, l.Mailbox, l.Attrs)
			continue
		}
		// go-imap decodes modified UTF-7; the registry speaks internal names.
		name, err := mboxlist.EncodeMUTF7(l.Mailbox)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.EqualFold(name, "INBOX"):
			name = inbox
		case len(name) > 6 && strings.EqualFold(name[:6], "INBOX."):
			name = inbox + name[5:]
		}
		out = append(out, name)
	}
	return out
}
