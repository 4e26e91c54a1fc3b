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
