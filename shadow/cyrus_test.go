package shadow_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrusimapd"
	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/shadow"
)

// unixSep turns a command written with '.' separators (and '^' for a
// literal dot) into the unixhierarchysep spelling.
func unixSep(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch c {
		case '.':
			b[i] = '/'
		case '^':
			b[i] = '.'
		}
	}
	return string(b)
}

// fixture creates mailboxes exercising every rule of RegistryList on a real
// Cyrus imapd; returns the users to compare.
func fixture(t *testing.T, s *cyrusimapd.Server, o cyrusimapd.Options) []shadow.User {
	t.Helper()
	cmds := []string{
		"CREATE user.alice", "CREATE user.alice.Sent", "CREATE user.alice.a.b.c",
		"CREATE user.alice.&AOk-t&AOk-", "CREATE user.alice.x^y", "CREATE user.alice.&-amp",
		"CREATE user.bob", "CREATE user.bob.Shared.deep", "SETACL user.bob.Shared.deep alice lr",
		"CREATE user.bob.top", "SETACL user.bob.top anyone lr",
		"CREATE user.bob.p.c.d", "SETACL user.bob.p alice lr", "SETACL user.bob.p.c.d alice lr",
		"CREATE user.bob.q.r", "SETACL user.bob.q alice lr",
		"CREATE user.carol", "SETACL user.carol bob lr",
		"CREATE shared.lab", "SETACL shared.lab anyone lrs",
		"CREATE shared.neg", "SETACL shared.neg anyone lr", "SETACL shared.neg -alice l",
		"CREATE team", "SETACL team alice lr", "SETACL team anyone \"\"",
		"CREATE &ZeVnLIqe-", "SETACL &ZeVnLIqe- anyone lr",
		"CREATE user.alice.Trash", "SETACL user.alice.Trash admin lrswipkxtecda", "DELETE user.alice.Trash",
	}
	if o.UnixHierarchySep {
		for i := range cmds {
			cmds[i] = unixSep(cmds[i])
		}
	}
	s.Admin(t, cmds...)
	users := []shadow.User{{Name: "alice", Password: "alicepw"}, {Name: "bob", Password: "bobpw"}, {Name: "carol", Password: "carolpw"}}
	// Intermediate entries (3.6 mbtype "ei", no ACL) cannot be made over
	// IMAP; ctl_mboxlist -u writes them as an upgrade from 2.x would. (A
	// mailbox of alice's own whose ACL gives her no `l` is left out: Cyrus
	// hides it from her, the registry's rule shows it; see
	// docs/entry-model.md, "Who sees a mailbox".)
	undump := `{
"top.mid": {"mbtype": "ei", "partition": "default", "acl": {}, "uniqueid": "u-int1", "uidvalidity": "8"},
"top.mid.leaf": {"mbtype": "e", "partition": "default", "acl": {"alice": "lr", "bob": "lr"}, "uniqueid": "u-leaf", "uidvalidity": "8"},
"top": {"mbtype": "e", "partition": "default", "acl": {"alice": "lr"}, "uniqueid": "u-top", "uidvalidity": "8"},
"user.bob.z": {"mbtype": "ei", "partition": "default", "acl": {}, "uniqueid": "u-int2", "uidvalidity": "8"},
"user.bob.z.w": {"mbtype": "e", "partition": "default", "acl": {"alice": "lr", "bob": "lrswipkxtecdan"}, "uniqueid": "u-zw", "uidvalidity": "8"},
"nopar.x.y": {"mbtype": "e", "partition": "default", "acl": {"alice": "lr"}, "uniqueid": "u-npxy", "uidvalidity": "8"},
"user.alice.cal": {"mbtype": "c", "partition": "default", "acl": {"alice": "lr"}, "uniqueid": "u-cal", "uidvalidity": "8"}
`
	if o.VirtDomains {
		dcmds := []string{"CREATE user.dora@example.com", "CREATE user.dora.Drafts@example.com",
			"CREATE user.ed@example.com", "CREATE user.ed.pub@example.com", "SETACL user.ed.pub@example.com dora@example.com lr",
			"CREATE pub@example.com", "SETACL pub@example.com anyone lr",
			"CREATE user.alice@other.org", "SETACL user.alice@other.org anyone lr"}
		s.Admin(t, dcmds...)
		undump += `,
"example.com!shared.inter": {"mbtype": "ei", "partition": "default", "acl": {}, "uniqueid": "u-int3", "uidvalidity": "8"},
"example.com!shared.inter.x": {"mbtype": "e", "partition": "default", "acl": {"anyone": "lr"}, "uniqueid": "u-dx", "uidvalidity": "8"}
`
		users = append(users, shadow.User{Name: "dora@example.com", Password: "dorapw"}, shadow.User{Name: "ed@example.com", Password: "edpw"})
	}
	undump += "}\n"
	r := cyrustest.AsCyrus(cyrustest.Tool(t, "ctl_mboxlist"), "-C", s.Conf, "-u")
	r.Stdin = strings.NewReader(undump)
	if out, err := r.CombinedOutput(); err != nil {
		t.Fatalf("ctl_mboxlist -u: %v: %s", err, out)
	}
	return users
}

func fixtureUsers(vd bool) map[string]string {
	u := map[string]string{"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}
	if vd {
		u["dora@example.com"] = "dorapw"
		u["ed@example.com"] = "edpw"
	}
	return u
}

func dumpEntries(t *testing.T, s *cyrusimapd.Server) []shadow.DumpEntry {
	t.Helper()
	cmd := cyrustest.AsCyrus(cyrustest.Tool(t, "ctl_mboxlist"), "-C", s.Conf, "-d", "-y")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ctl_mboxlist -d -y: %v: %s", err, errb.Bytes())
	}
	entries, err := shadow.ReadDump(&out)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func imapSource(t *testing.T, s *cyrusimapd.Server) *shadow.IMAPSource {
	u, err := url.Parse("imap://" + s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return &shadow.IMAPSource{URL: u}
}

// TestRegistryListMatchesCyrus checks every rule of RegistryList against
// what real Cyrus 3.6.1 imapd lists for the same mailboxes, in each
// namespace configuration: the registry side computed from the server's own
// `ctl_mboxlist -d -y` must equal the server's LIST for every user.
func TestRegistryListMatchesCyrus(t *testing.T) {
	configs := map[string]cyrusimapd.Options{
		"standard":         {},
		"altnamespace":     {AltNamespace: true},
		"unixhierarchysep": {UnixHierarchySep: true},
		"alt+unix":         {AltNamespace: true, UnixHierarchySep: true},
		"virtdomains":      {VirtDomains: true},
	}
	for name, o := range configs {
		t.Run(name, func(t *testing.T) {
			o.Users = fixtureUsers(o.VirtDomains)
			s := cyrusimapd.Start(t, o)
			users := fixture(t, s, o)
			entries := dumpEntries(t, s)
			old := imapSource(t, s)
			reg := &shadow.RegistrySource{Name: "dump", Visible: shadow.DumpVisible(entries, nil)}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for _, u := range users {
				ol, err := old.List(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				if len(ol.Mailboxes) < 2 {
					t.Fatalf("%s: real LIST shows only %v: fixture broken", u.Name, ol.Mailboxes)
				}
				rl, err := reg.ListIn(ctx, u, ol.Namespace)
				if err != nil {
					t.Fatal(err)
				}
				if d := shadow.Compare(ol, rl, shadow.CompareOptions{StructuralOnly: true}); len(d) != 0 {
					t.Errorf("%s: registry side differs from real Cyrus:\n%s", u.Name, fmtDiffs(d))
				}
				// Also the namespace computed from imapd.conf settings
				// must be the announced one.
				want := shadow.StandardNamespace(o.AltNamespace, o.UnixHierarchySep)
				if *ol.Namespace != want {
					t.Errorf("%s: NAMESPACE = %+v, StandardNamespace = %+v", u.Name, *ol.Namespace, want)
				}
			}
		})
	}
}

func fmtDiffs(ds []shadow.Difference) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintln(&b, "  ", d)
	}
	return b.String()
}
