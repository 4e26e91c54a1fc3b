package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// realmUsers are SASL users in their domain's realm (Cyrus with
// virtdomains: userid asks SASL for the local part, the domain as realm).
var realmUsers = []struct{ user, realm, pw string }{
	{"u", "example.com", "ucompw"},
	{"u", "example.org", "uorgpw"},
	{"v", "example.com", "vcompw"},
	{"admin", "example.com", "domadminpw"},
}

// addRealmUsers adds realmUsers to in's sasldb (and to in.Users as
// local@domain).
func addRealmUsers(t *testing.T, in *murdertest.Instance) {
	t.Helper()
	db := filepath.Join(in.Dir, "sasldb2")
	for _, u := range realmUsers {
		cmd := exec.Command("/usr/sbin/saslpasswd2", "-p", "-c", "-f", db, "-u", u.realm, u.user)
		cmd.Stdin = strings.NewReader(u.pw)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("saslpasswd2 %s@%s: %v: %s", u.user, u.realm, err, out)
		}
		in.Users[u.user+"@"+u.realm] = u.pw
	}
	if out, err := exec.Command("chown", "cyrus:mail", db).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v %s", db, err, out)
	}
}

// vdOpts are the imapd.conf lines of every instance of the test: virtual
// domains by userid. vdAutocreate, on the backend only: a user's first login
// creates INBOX, Sent and Trash. (On a 3.6.1 frontend it would create them
// on the frontend itself: a domain admin's login through each frontend
// made user.admin on that frontend, announced to its own mupdate server.)
var (
	vdOpts       = []string{"virtdomains: userid"}
	vdAutocreate = []string{"autocreate_quota: 0", "autocreate_inbox_folders: Sent|Trash"}
)

// Virtual domains end to end (virtdomains: userid on backend, frontends
// and master): the real backend's MUPDATE goes through a Tee to
// murder-bridge (answering) and a real mupdate master (shadow); one frontend
// follows the bridge, the other the master. Users u@example.com and
// u@example.org (same local part) and v@example.com get their mailboxes by
// logging in (autocreate), create and share folders; the global admin
// creates shared folders in each domain and one outside any; the domain
// admin admin@example.com creates a user and a shared folder of its
// domain. Then every MUPDATE answer was the same from both, LIST as each
// user is the same through both frontends (and what each should see), the
// registry equals the master's mailboxes.db, and `mboxconv export` of the
// registry holds the names as Cyrus stores them (example.com!user.u).
func TestVirtualDomains(t *testing.T) {
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry")
	st, err := leveldb.Open(context.Background(), regPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ours := startOursOn(t, st)
	master := murdertest.StartMaster(t, murdertest.Options{Extra: vdOpts})
	tee := murdertest.StartTee(t, ours.Addr, master.MupdateAddr)
	be := murdertest.StartBackend(t, tee.Addr, murdertest.Options{Name: "vd-be", Admins: []string{"admin@example.com"}, Extra: slices.Concat(vdOpts, vdAutocreate)})
	addRealmUsers(t, be)
	fo := func(name string) murdertest.Options {
		return murdertest.Options{Name: name, Serverlist: []string{be.Servername}, Extra: vdOpts}
	}
	feOurs := murdertest.StartFrontend(t, ours.Addr, fo("vd-fe-bridge"))
	feCyrus := murdertest.StartFrontend(t, master.MupdateAddr, fo("vd-fe-master"))
	addRealmUsers(t, feOurs)
	addRealmUsers(t, feCyrus)

	be.RunSteps(t, []murdertest.Step{
		// first logins autocreate INBOX, INBOX.Sent, INBOX.Trash
		{User: "u@example.com", Op: "CREATE", Args: []string{"INBOX.Proj"}},
		{User: "u@example.com", Op: "SETACL", Args: []string{"INBOX.Proj", "v@example.com", "lr"}},
		{User: "u@example.org", Op: "CREATE", Args: []string{"INBOX.Proj"}},
		{User: "v@example.com", Op: "CREATE", Args: []string{"INBOX.Notes"}},
		// shared folders of a domain: the domain's top first (Cyrus 3.6.1
		// creates a missing parent of shared.x@domain in the default
		// domain, see docs/interop.md)
		{Op: "CREATE", Args: []string{"shared@example.com"}},
		{Op: "CREATE", Args: []string{"shared.news@example.com"}},
		{Op: "SETACL", Args: []string{"shared.news@example.com", "anyone", "lr"}},
		{Op: "CREATE", Args: []string{"shared@example.org"}},
		{Op: "CREATE", Args: []string{"shared.team@example.org"}},
		{Op: "SETACL", Args: []string{"shared.team@example.org", "u@example.org", "lrs"}},
		{Op: "CREATE", Args: []string{"shared.global"}},
		{Op: "SETACL", Args: []string{"shared.global", "anyone", "lr"}},
		// the domain admin works inside its domain with names without it
		{User: "admin@example.com", Op: "CREATE", Args: []string{"user.w"}},
		{User: "admin@example.com", Op: "CREATE", Args: []string{"user.w.Sub"}},
		{User: "admin@example.com", Op: "SETACL", Args: []string{"shared", "anyone", "lr"}},
	})
	// a create through the frontend on the bridge (proxied to the backend)
	s := feOurs.IMAPAs(t, "u@example.org")
	if err := s.Create("INBOX.ViaFrontend"); err != nil {
		t.Fatalf("CREATE through the frontend: %v\n%s", err, feOurs.Log())
	}
	s.Close()
	time.Sleep(6 * time.Second) // the master's 5-second batch to its slave

	want := map[string][]string{
		"u@example.com": {"INBOX", "INBOX.Proj", "INBOX.Sent", "INBOX.Trash", "shared", "shared.news"},
		"u@example.org": {"INBOX", "INBOX.Proj", "INBOX.Sent", "INBOX.Trash", "INBOX.ViaFrontend", "shared", "shared.team"},
		"v@example.com": {"INBOX", "INBOX.Notes", "INBOX.Sent", "INBOX.Trash", "shared", "shared.news", "user.u.Proj"},
	}
	for _, u := range []string{"u@example.com", "u@example.org", "v@example.com", "admin@example.com", "admin"} {
		var got [2][]string
		for i, fe := range []*murdertest.Instance{feOurs, feCyrus} {
			s := fe.IMAPAs(t, u)
			names, err := s.Names("*")
			if err != nil {
				t.Fatalf("LIST as %s through %s: %v", u, fe.Name, err)
			}
			s.Close()
			got[i] = names
		}
		if diff := cmp.Diff(got[1], got[0]); diff != "" {
			t.Errorf("LIST * as %s: frontend on the master (-) vs on the bridge (+):\n%s", u, diff)
		}
		if w, ok := want[u]; ok && !slices.Equal(got[0], w) {
			t.Errorf("LIST * as %s = %q, want %q", u, got[0], w)
		}
		t.Logf("LIST * as %s: %q", u, got[0])
	}
	if d := tee.Differences(); len(d) > 0 {
		t.Errorf("the bridge and the real master answered differently:\n%s", strings.Join(d, "\n"))
	}
	recs := masterEqualsRegistry(t, master, st, 10*time.Second)
	for _, n := range []string{"example.com!user.u", "example.org!user.u", "example.com!user.u.Proj", "example.org!user.u.ViaFrontend",
		"example.com!shared.news", "example.org!shared.team", "example.com!user.w.Sub", "shared.global"} {
		if _, ok := recs[n]; !ok {
			t.Errorf("registry and master have no %s", n)
		}
	}
	if got := recs["example.com!user.u.Proj"].ACL["v@example.com"]; got != "lr" {
		t.Errorf("example.com!user.u.Proj ACL for v@example.com = %q, want lr", got)
	}

	// the registry as files, with the domain names as Cyrus stores them
	if err := ours.stop(); err != nil {
		t.Fatal(err)
	}
	mc := mboxconvBinary(t)
	for _, x := range []struct {
		domain string
		want   []string
	}{
		{"", slices.Sorted(mapsKeys(recs))},
		{"example.org", []string{"example.org!shared", "example.org!shared.team", "example.org!user.u", "example.org!user.u.Proj",
			"example.org!user.u.Sent", "example.org!user.u.Trash", "example.org!user.u.ViaFrontend"}},
	} {
		out := filepath.Join(dir, fmt.Sprintf("export-%s.json", x.domain))
		args := []string{"export", "--registry", "leveldb://" + regPath, out, "--to", "json"}
		if x.domain != "" {
			args = append(args, "--domain", x.domain)
		}
		if b, err := exec.Command(mc, args...).CombinedOutput(); err != nil {
			t.Fatalf("mboxconv %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if got := slices.Sorted(mapsKeys(m)); !slices.Equal(got, x.want) {
			t.Errorf("mboxconv export --domain %q: %q, want %q", x.domain, got, x.want)
		}
		dump, err := exec.Command(mc, "dump", out).CombinedOutput()
		if err != nil {
			t.Fatalf("mboxconv dump %s: %v\n%s", out, err, dump)
		}
		if !strings.Contains(string(dump), "example.org!user.u.ViaFrontend") {
			t.Errorf("mboxconv dump of the export has no example.org!user.u.ViaFrontend:\n%s", dump)
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// What real Cyrus 3.6.1 does with virtual domains that an operator of a
// murder must work around (docs/interop.md): pinned so that a Cyrus
// upgrade that changes it shows up here. On a standalone backend with
// virtdomains: userid:
//   - an admin's CREATE with the internal name example.com!user.x kills the
//     imapd: "Fatal error: Internal error: assertion failed:
//     imap/mboxlist.c: 1088: user_isnamespacelocked(userid)"
//     (the external form user.x@example.com works);
//   - CREATE shared.a@example.com without example.com!shared creates the
//     missing parent in the default domain ("shared"), so the same for a
//     second domain fails with NO "Mailbox already exists".
func TestVirtualDomainsCyrusQuirks(t *testing.T) {
	be := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true, Name: "vd-quirks", Extra: vdOpts})
	admin := be.IMAPAs(t, "admin")
	if err := admin.Create("user.x@example.com"); err != nil {
		t.Errorf("CREATE user.x@example.com: %v", err)
	}
	if err := admin.Create("shared.a@example.com"); err != nil {
		t.Errorf("CREATE shared.a@example.com: %v", err)
	}
	err := admin.Create("shared.b@example.org")
	if err == nil || !strings.Contains(err.Error(), "Mailbox already exists") {
		t.Errorf("CREATE shared.b@example.org = %v, want NO Mailbox already exists (Cyrus 3.6.1)", err)
	}
	names := slices.Sorted(mapsKeys(be.Dump(t)))
	if want := []string{"example.com!shared.a", "example.com!user.x", "shared"}; !slices.Equal(names, want) {
		t.Errorf("mailboxes.db holds %q, want %q", names, want)
	}
	if err := admin.Create("example.com!user.y"); err == nil {
		t.Errorf("CREATE example.com!user.y succeeded; Cyrus 3.6.1 aborts on it")
	}
	const crash = "assertion failed: imap/mboxlist.c: 1088: user_isnamespacelocked(userid)"
	if !be.WaitLog(crash, 5*time.Second) {
		t.Errorf("no %q in the backend's syslog:\n%s", crash, be.Log())
	}
}
