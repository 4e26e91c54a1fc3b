package interop

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// unifiedOutcome is what a unified murder ends with, server names
// written U1 and U2 so that two murders compare.
type unifiedOutcome struct {
	Master map[string]string // MUPDATE LIST: name -> "location id=rights ..."
	// Lists[user@server] is the user's IMAP LIST through that server.
	Lists map[string][]string
	// Remote[server] is the other server's mailboxes as this server's
	// mailboxes.db holds them: name -> "mbtype server!partition".
	Remote map[string]map[string]string
	// Selected[what] is the message count a SELECT saw.
	Selected map[string]uint32
}

// unifiedMsg is appended through one unified server to a mailbox held by
// the other.
var unifiedMsg = string("From: alice@murdertest\r\nTo: bob@murdertest\r\nSubject: unified\r\nDate: Sat, 05 Dec 2026 20:00:00 +0000\r\nMessage-ID: <unified@murdertest>\r\n\r\nproxied\r\n")

// runUnified runs the unified script against the master at mupdateAddr:
// two real unified servers (mupdate_config: unified: imapd holding its own
// mailboxes plus a mupdate slave of the master); each creates, renames,
// deletes and sets ACLs on its own mailboxes; alice works through both.
func runUnified(t *testing.T, name, mupdateAddr string, rel cyrustest.Release, masterLog func() string) unifiedOutcome {
	t.Helper()
	u1 := murdertest.StartUnified(t, mupdateAddr, murdertest.Options{Name: name + "-u1", Release: rel})
	u2 := murdertest.StartUnified(t, mupdateAddr, murdertest.Options{Name: name + "-u2", Release: rel})
	srv := map[string]*murdertest.Instance{"U1": u1, "U2": u2}
	norm := strings.NewReplacer(u1.Servername, "U1", u2.Servername, "U2")
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nU1 syslog:\n%s\nU2 syslog:\n%s\nmaster log:\n%s", append(args, u1.Log(), u2.Log(), masterLog())...)
	}
	run := func(in *murdertest.Instance, steps ...murdertest.Step) {
		t.Helper()
		for _, st := range steps {
			u := st.User
			if u == "" {
				u = "admin"
			}
			s, err := murdertest.DialIMAP(in.IMAPAddr, u, in.Users[u])
			if err != nil {
				fail("%v", err)
			}
			err = s.Do(st)
			s.Close()
			if err != nil {
				fail("%s as %s: %v", in.Name, u, err)
			}
		}
	}
	// waitList waits until user's LIST through in shows want (and not gone).
	waitList := func(in *murdertest.Instance, user string, want, gone []string) []string {
		t.Helper()
		var names []string
		err := murdertest.Eventually(30*time.Second, func() error {
			s, err := murdertest.DialIMAP(in.IMAPAddr, user, in.Users[user])
			if err != nil {
				return err
			}
			defer s.Close()
			if names, err = s.Names("*"); err != nil {
				return err
			}
			for _, w := range want {
				if !slices.Contains(names, w) {
					return fmt.Errorf("no %s", w)
				}
			}
			for _, g := range gone {
				if slices.Contains(names, g) {
					return fmt.Errorf("still %s", g)
				}
			}
			return nil
		})
		if err != nil {
			fail("%s's LIST through %s = %v: %v", user, in.Name, names, err)
		}
		return names
	}

	// each server creates on itself
	run(u1, murdertest.Step{Op: "CREATE", Args: []string{"user.alice"}},
		murdertest.Step{User: "alice", Op: "CREATE", Args: []string{"INBOX.Sent"}},
		murdertest.Step{User: "alice", Op: "SETACL", Args: []string{"INBOX.Sent", "bob", "lr"}})
	run(u2, murdertest.Step{Op: "CREATE", Args: []string{"user.bob"}},
		murdertest.Step{User: "bob", Op: "CREATE", Args: []string{"INBOX.Drafts"}},
		murdertest.Step{User: "bob", Op: "SETACL", Args: []string{"INBOX.Drafts", "alice", "lrsi"}},
		murdertest.Step{User: "bob", Op: "CREATE", Args: []string{"INBOX.Tmp"}})
	// the other server's mailboxes reach each (through the master)
	waitList(u2, "alice", []string{"INBOX", "INBOX.Sent", "user.bob.Drafts"}, nil)
	waitList(u1, "bob", []string{"INBOX", "INBOX.Tmp", "user.alice.Sent"}, nil)
	// rename on U1, delete on U2, a create through U2 of a child of
	// alice's INBOX (held by U1)
	run(u1, murdertest.Step{User: "alice", Op: "RENAME", Args: []string{"INBOX.Sent", "INBOX.Archive"}})
	run(u2, murdertest.Step{User: "bob", Op: "DELETE", Args: []string{"INBOX.Tmp"}},
		murdertest.Step{User: "alice", Op: "CREATE", Args: []string{"INBOX.FromU2"}})

	o := unifiedOutcome{Lists: map[string][]string{}, Remote: map[string]map[string]string{}, Selected: map[string]uint32{}}
	for _, sn := range []string{"U1", "U2"} {
		in := srv[sn]
		o.Lists["alice@"+sn] = waitList(in, "alice", []string{"INBOX", "INBOX.Archive", "INBOX.FromU2", "user.bob.Drafts"}, []string{"INBOX.Sent"})
		o.Lists["bob@"+sn] = waitList(in, "bob", []string{"INBOX", "INBOX.Drafts", "user.alice.Archive"}, []string{"INBOX.Tmp", "user.alice.Sent"})
	}

	// SELECT and APPEND through the server that does not hold the mailbox
	// are proxied to the one that does
	alice2 := u2.IMAPAs(t, "alice")
	if err := alice2.Append("INBOX.Archive", unifiedMsg); err != nil {
		fail("alice APPEND to INBOX.Archive (on U1) through U2: %v", err)
	}
	if err := alice2.Append("user.bob.Drafts", unifiedMsg); err != nil {
		fail("alice APPEND to user.bob.Drafts (on U2) through U2: %v", err)
	}
	alice1 := u1.IMAPAs(t, "alice")
	if err := alice1.Append("user.bob.Drafts", unifiedMsg); err != nil {
		fail("alice APPEND to user.bob.Drafts (on U2) through U1: %v", err)
	}
	for _, c := range []struct {
		s         *murdertest.IMAP
		via, mbox string
	}{
		{alice2, "U2", "INBOX.Archive"}, {alice1, "U1", "INBOX.Archive"},
		{alice1, "U1", "user.bob.Drafts"}, {alice2, "U2", "user.bob.Drafts"},
	} {
		n, err := c.s.Select(c.mbox)
		if err != nil {
			fail("alice SELECT %s through %s: %v", c.mbox, c.via, err)
		}
		o.Selected[c.mbox+"@"+c.via] = n
	}

	// each server's mailboxes.db holds the other's mailboxes as remote
	for sn, in := range srv {
		rem := map[string]string{}
		if rel.Root != "" {
			// 3.2 prints "name<TAB>mbtype location acl" lines
			for _, l := range strings.Split(strings.TrimSpace(string(in.CtlMboxlist(t, "-d"))), "\n") {
				n, rest, _ := strings.Cut(l, "\t")
				f := strings.SplitN(rest, " ", 3)
				if len(f) == 3 && strings.Contains(f[1], "!") {
					rem[deletedName(n)] = f[0] + " " + norm.Replace(f[1])
				}
			}
		} else {
			for n, e := range in.Dump(t) {
				if e.Server != "" {
					rem[deletedName(n)] = e.MBType + " " + norm.Replace(e.Location())
				}
			}
		}
		o.Remote[sn] = rem
	}

	out, err := rawSession(mupdateAddr, "admin", "adminpw", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	o.Master = map[string]string{}
	var cur strings.Builder
	for _, l := range out[0] {
		cur.WriteString(l)
		if strings.HasSuffix(l, "}") {
			cur.WriteString("\r\n")
			continue
		}
		if w, ok := parseMailboxLine(cur.String()); ok {
			o.Master[deletedName(w.Args[0])] = norm.Replace(w.Args[1]) + " " + aclText(w.Args[2])
		}
		cur.Reset()
	}
	return o
}

// deletedName writes the time stamp of a delayed delete's DELETED.* name
// as X, so that two murders compare.
func deletedName(n string) string {
	if i := strings.LastIndexByte(n, '.'); strings.HasPrefix(n, "DELETED.") && i > 0 {
		return n[:i] + ".X"
	}
	return n
}

// unifiedReleases are the Cyrus releases the unified murder is run on.
// On a release that breaks, TestUnifiedMurderBreaks proves Cyrus's own
// failure: SELECT of a mailbox the server holds fails with selectErr, and
// the server logs each of logs. docs/cyrus-versions.md, "Unified
// murders", says why from each release's source.
var unifiedReleases = []struct {
	version   string
	breaks    bool
	selectErr string
	logs      []string
}{
	{version: "3.2"},
	// 3.6 and 3.10 key the open mailbox by name and lock it by its
	// (missing) uniqueid: the lock fails
	{version: "3.6", breaks: true, selectErr: "Invalid mailbox name",
		logs: []string{"IOERROR: lock failed: mailbox=<user.alice> error=<Invalid mailbox name>"}},
	{version: "3.10", breaks: true, selectErr: "Invalid mailbox name",
		logs: []string{"IOERROR: lock failed: mailbox=<user.alice> error=<Invalid mailbox name>"}},
	// 3.12 keys the open mailbox by its lock name, the missing uniqueid:
	// xstrdup(NULL) kills imapd, the client sees the connection end
	{version: "3.12", breaks: true, selectErr: "unexpected EOF",
		logs: []string{"path:/usr/lib/cyrus/bin/imapd", "signaled to death by signal 11 (Segmentation fault)"}},
}

// unifiedMaster starts the real `mupdate -m` of a release (the host's 3.6
// for "3.6").
func unifiedMaster(t *testing.T, name string, rel cyrustest.Release) *murdertest.Instance {
	return murdertest.StartMaster(t, murdertest.Options{Name: name, Release: rel})
}

// TestUnifiedMurder: a unified murder (mupdate_config: unified: every
// server is frontend and backend at once) of two real Cyrus servers of
// each release that does not break (unifiedReleases), once under that
// release's real `mupdate -m` and once under murder-bridge. Each server
// creates, renames, deletes and sets ACLs on its own mailboxes; under
// either master the changes reach the master and the other server: LIST
// through each server shows the other's mailboxes, SELECT and APPEND
// through one server reach a mailbox the other holds, each server's
// mailboxes.db holds the other's as remote entries, and both murders end
// the same (compared).
func TestUnifiedMurder(t *testing.T) {
	for _, r := range unifiedReleases {
		if r.breaks {
			continue
		}
		t.Run(r.version, func(t *testing.T) {
			rel := cyrustest.ReleaseOf(t, r.version)
			var real, ours unifiedOutcome
			t.Run("real-master", func(t *testing.T) {
				master := unifiedMaster(t, "uni-master-"+r.version, rel)
				real = runUnified(t, "uni-real-"+r.version, master.MupdateAddr, rel, master.Log)
				checkUnified(t, real)
			})
			t.Run("bridge", func(t *testing.T) {
				b := startOurs(t)
				ours = runUnified(t, "uni-bridge-"+r.version, b.Addr, rel, b.Logs.String)
				checkUnified(t, ours)
			})
			if real.Master == nil || ours.Master == nil {
				return
			}
			if d := cmp.Diff(real, ours); d != "" {
				t.Errorf("a unified murder ends differently under the real master (-) and murder-bridge (+):\n%s", d)
			}
		})
	}
}

// checkUnified checks one murder's end state on its own.
func checkUnified(t *testing.T, o unifiedOutcome) {
	t.Helper()
	t.Logf("master: %v", o.Master)
	t.Logf("remote entries: %v", o.Remote)
	for name, loc := range map[string]string{
		// a CREATE on a unified server is local, even under a parent
		// another server holds
		"user.alice": "U1!", "user.alice.Archive": "U1!", "user.alice.FromU2": "U2!",
		"user.bob": "U2!", "user.bob.Drafts": "U2!",
	} {
		if !strings.HasPrefix(o.Master[name], loc) {
			t.Errorf("the master lists %s as %q, want it at %s", name, o.Master[name], loc)
		}
	}
	if !strings.HasPrefix(o.Master["DELETED.user.bob.Tmp.X"], "U2!") {
		t.Errorf("the delayed delete of user.bob.Tmp is not on the master: %v", o.Master)
	}
	for _, gone := range []string{"user.alice.Sent", "user.bob.Tmp"} {
		if _, ok := o.Master[gone]; ok {
			t.Errorf("the master still lists %s", gone)
		}
	}
	if !strings.Contains(o.Master["user.bob.Drafts"], "alice=lrsi") || !strings.Contains(o.Master["user.alice.Archive"], "bob=lr") {
		t.Errorf("SETACL did not reach the master: %v", o.Master)
	}
	for _, u := range []string{"alice", "bob"} {
		if !slices.Equal(o.Lists[u+"@U1"], o.Lists[u+"@U2"]) {
			t.Errorf("%s's LIST through U1 %v differs from through U2 %v", u, o.Lists[u+"@U1"], o.Lists[u+"@U2"])
		}
	}
	want := map[string]uint32{"INBOX.Archive@U1": 1, "INBOX.Archive@U2": 1, "user.bob.Drafts@U1": 2, "user.bob.Drafts@U2": 2}
	if !maps.Equal(o.Selected, want) {
		t.Errorf("SELECT counts %v, want %v", o.Selected, want)
	}
	if _, ok := o.Remote["U1"]["user.bob.Drafts"]; !ok {
		t.Errorf("U1's mailboxes.db does not hold U2's user.bob.Drafts: %v", o.Remote["U1"])
	}
	if _, ok := o.Remote["U2"]["user.alice.Archive"]; !ok {
		t.Errorf("U2's mailboxes.db does not hold U1's user.alice.Archive: %v", o.Remote["U2"])
	}
}

// TestUnifiedMurderBreaks: a unified server of Cyrus 3.6.1, 3.10.2 and
// 3.12.4 (each release marked breaks in unifiedReleases) cannot use a
// mailbox it holds once the master has sent the mailbox back to its
// mupdate slave: mboxlist_insertremote turns the update for a mailbox at
// its own servername into a local entry made from the MUPDATE data alone
// (no uniqueid, no LEGACY_DIRS flag), and mailbox_open then logs "mbentry
// has no uniqueid, needs reconstruct" and opens the mailbox by its missing
// uniqueid: 3.6.1 and 3.10.2 fail to lock it ("Invalid mailbox name"),
// 3.12.4's imapd dies of a segmentation fault. It happens under the
// release's real `mupdate -m` (after its 5-second batch) and under
// murder-bridge (at once) alike, which this test checks, so
// TestUnifiedMurder runs its unified servers on Cyrus 3.2 only (whose
// mailboxes are found by name). The test fails the day a release fixes it.
func TestUnifiedMurderBreaks(t *testing.T) {
	for _, r := range unifiedReleases {
		if !r.breaks {
			continue
		}
		t.Run(r.version, func(t *testing.T) { unifiedBreaks(t, r.version, r.selectErr, r.logs) })
	}
}

func unifiedBreaks(t *testing.T, version, selectErr string, logs []string) {
	rel := cyrustest.ReleaseOf(t, version)
	type result struct {
		UniqueID  string
		SelectErr string
	}
	got := map[string]result{}
	for _, which := range []string{"real-master", "bridge"} {
		t.Run(which, func(t *testing.T) {
			var addr string
			var mlog func() string
			if which == "real-master" {
				m := unifiedMaster(t, "uni-breaks-master-"+version, rel)
				addr, mlog = m.MupdateAddr, m.Log
			} else {
				b := startOurs(t)
				addr, mlog = b.Addr, b.Logs.String
			}
			u := murdertest.StartUnified(t, addr, murdertest.Options{Name: "uni-breaks-" + version + "-" + which, Release: rel})
			admin := u.IMAPAs(t, "admin")
			if err := admin.Create("user.alice"); err != nil {
				t.Fatalf("CREATE user.alice on a %s unified server: %v\n%s", version, err, u.Log())
			}
			// the master's update comes back to the server's own slave
			err := murdertest.Eventually(20*time.Second, func() error {
				s, err := murdertest.DialIMAP(u.IMAPAddr, "alice", "alicepw")
				if err != nil {
					return err
				}
				defer s.Close()
				if _, err := s.Select("INBOX"); err == nil {
					return fmt.Errorf("alice's SELECT INBOX still works")
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%v: the %s unified server kept its mailbox usable (has Cyrus fixed mboxlist_insertremote? then TestUnifiedMurder can run on %s)\n%s\nmaster:\n%s", err, version, version, u.Log(), mlog())
			}
			s := u.IMAPAs(t, "alice")
			_, err = s.Select("INBOX")
			r := result{UniqueID: u.Dump(t)["user.alice"].UniqueID}
			if err != nil {
				r.SelectErr = err.Error()
			}
			got[which] = r
			if !strings.Contains(r.SelectErr, selectErr) || r.UniqueID != "" {
				t.Errorf("after the master's echo: %+v, want SELECT to fail with %q and no uniqueid", r, selectErr)
			}
			for _, l := range append([]string{"mbentry has no uniqueid, needs reconstruct: mboxname=<user.alice>"}, logs...) {
				if !strings.Contains(u.Log(), l) {
					t.Errorf("the unified server did not log %q:\n%s", l, u.Log())
				}
			}
		})
	}
	if got["real-master"] != got["bridge"] {
		t.Errorf("the %s unified server fails differently: real master %+v, bridge %+v", version, got["real-master"], got["bridge"])
	}
}
