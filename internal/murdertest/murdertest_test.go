package murdertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The harness itself, against real Cyrus: master + seeded backend pushed with
// ctl_mboxlist -m + frontend; a mailbox created on the backend shows in LIST
// through the frontend; each instance's syslog is captured.
func TestRealMurder(t *testing.T) {
	m := StartMurder(t, MurderOptions{Seed: LabSeed})

	d := m.Master.Dump(t)
	want := []string{"shared", "shared.lab", "user.alice", "user.alice.Sent", "user.alice.Trash", "user.bob"}
	var got []string
	for n, e := range d {
		got = append(got, n)
		if e.Server != m.Backend.Servername || e.Partition != "default" || e.MBType != "er" {
			t.Errorf("master entry %s = %+v, want server %s partition default mbtype er", n, e, m.Backend.Servername)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("master mailboxes after ctl_mboxlist -m = %v, want %v", got, want)
	}
	if acl := d["shared.lab"].ACL; acl["anyone"] != "lrs" || acl["bob"] != "lrswipkxtecda" {
		t.Errorf("shared.lab ACL = %v", acl)
	}

	alice := m.Frontend.IMAPAs(t, "alice")
	names, err := alice.Names("*")
	if err != nil {
		t.Fatal(err)
	}
	if w := []string{"INBOX", "INBOX.Sent", "INBOX.Trash", "shared", "shared.lab"}; !slices.Equal(names, w) {
		t.Fatalf("alice's LIST through the frontend = %v, want %v", names, w)
	}

	be := m.Backend.IMAPAs(t, "alice")
	if err := be.Create("INBOX.Projects"); err != nil {
		t.Fatal(err)
	}
	err = Eventually(20*time.Second, func() error {
		n, err := alice.Names("*")
		if err != nil {
			return err
		}
		if !slices.Contains(n, "INBOX.Projects") {
			return fmt.Errorf("frontend LIST = %v, no INBOX.Projects yet", n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\nfrontend syslog:\n%s", err, m.Frontend.Log())
	}
	if e, ok := m.Frontend.Dump(t)["user.alice.Projects"]; !ok || e.Server != m.Backend.Servername {
		t.Errorf("frontend replica has user.alice.Projects = %+v, %v", e, ok)
	}

	// RawIMAP: the frontend advertises its mupdate server (design of the
	// murder: frontends announce MUPDATE=mupdate://<mupdate_server>/).
	caps, err := RawIMAP(m.Frontend.IMAPAddr, "alice", "alicepw", "CAPABILITY")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(caps[0], "\n"); !strings.Contains(got, "MUPDATE=mupdate://"+m.MupdateAddr+"/") {
		t.Errorf("frontend CAPABILITY lacks MUPDATE=mupdate://%s/:\n%s", m.MupdateAddr, got)
	}
	if _, err := RawIMAP(m.Frontend.IMAPAddr, "alice", "alicepw", "NOSUCHCOMMAND"); err == nil {
		t.Errorf("RawIMAP reported no error for a BAD")
	}

	// syslog capture: the backend logs alice's login, the master its
	// mupdate sessions.
	if !m.Backend.WaitLog("login:", 5*time.Second) {
		t.Errorf("backend syslog has no login line:\n%s", m.Backend.Log())
	}
	if m.Master.Log() == "" {
		t.Errorf("master syslog is empty")
	}
	if strings.Contains(m.Frontend.Log(), "murdertest-master") {
		t.Errorf("frontend log holds the master's lines")
	}
}

// The Tee, checked with two real masters: a real backend pushing and
// changing mailboxes through it leaves both masters with the same entries,
// and the two answer every command alike. (The interop tests rely on this
// to compare our server with Cyrus's master.)
func TestTeeTwoRealMasters(t *testing.T) {
	m1 := StartMaster(t, Options{Name: "master1"})
	m2 := StartMaster(t, Options{Name: "master2"})
	tee := StartTee(t, m1.MupdateAddr, m2.MupdateAddr)
	be := StartBackend(t, "", Options{Standalone: true})
	be.RunSteps(t, LabSeed)
	be.Join(t, tee.Addr)
	be.CtlMboxlist(t, "-m")
	be.RunSteps(t, []Step{
		{User: "alice", Op: "CREATE", Args: []string{"INBOX.Projects"}},
		{User: "alice", Op: "SETACL", Args: []string{"INBOX.Projects", "bob", "lrs"}},
		{User: "alice", Op: "RENAME", Args: []string{"INBOX.Projects", "INBOX.Archive"}},
		{User: "alice", Op: "DELETE", Args: []string{"INBOX.Archive"}},
	})
	tee.Close()
	if d := tee.Differences(); len(d) > 0 {
		t.Errorf("two real masters answered differently:\n%s", strings.Join(d, "\n"))
	}
	if n := len(tee.Conns()); n < 5 {
		t.Errorf("tee relayed %d connections, want at least 5 (push + 4 changes)", n)
	}
	d1, d2 := m1.Dump(t), m2.Dump(t)
	if len(d1) != 7 { // 6 seeded + DELETED.user.alice.Archive.<hex>
		t.Errorf("master1 has %d entries, want 7: %v", len(d1), d1)
	}
	for n, e1 := range d1 {
		e2, ok := d2[n]
		e1.Mtime, e2.Mtime = "", ""
		if !ok || fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Errorf("%s: master1 %+v, master2 %+v (present %v)", n, e1, e2, ok)
		}
	}
	if len(d1) != len(d2) {
		t.Errorf("master1 has %d entries, master2 %d", len(d1), len(d2))
	}
}
