package interop

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// changes is what the backend's users and admin do after the lab's seed:
// the C1–C5 transcripts (create, setacl, rename, delayed delete, non-ASCII
// name) and more (negative rights, user creation and rename, a second
// user's mailboxes).
var changes = []murdertest.Step{
	{User: "alice", Op: "CREATE", Args: []string{"INBOX.Projects"}},
	{User: "alice", Op: "SETACL", Args: []string{"INBOX.Projects", "bob", "lrs"}},
	{User: "alice", Op: "RENAME", Args: []string{"INBOX.Projects", "INBOX.Archive"}},
	{User: "alice", Op: "DELETE", Args: []string{"INBOX.Archive"}},
	{User: "alice", Op: "CREATE", Args: []string{"INBOX.été 2024"}},
	{User: "bob", Op: "CREATE", Args: []string{"INBOX.Drafts"}},
	{User: "bob", Op: "SETACL", Args: []string{"INBOX.Drafts", "alice", "lr"}},
	{User: "bob", Op: "CREATE", Args: []string{"INBOX.Old"}},
	{User: "bob", Op: "DELETE", Args: []string{"INBOX.Old"}},
	{Op: "CREATE", Args: []string{"shared.team"}},
	{Op: "SETACL", Args: []string{"shared.team", "anyone", "lrs"}},
	{Op: "SETACL", Args: []string{"shared.team", "-bob", "l"}},
	{Op: "CREATE", Args: []string{"user.carol"}},
	{Op: "CREATE", Args: []string{"user.carol.Lists"}},
	{Op: "SETACL", Args: []string{"user.carol.Lists", "alice", "lr"}},
	{Op: "RENAME", Args: []string{"shared.team", "shared.teams"}},
}

// side is one murder's view: its MUPDATE server and its frontend.
type side struct {
	name     string
	mupdate  string
	frontend *murdertest.Instance
}

// Proofs 1 and 2 of docs/interop.md ("What is proven"). One real backend whose mupdate_server is a Tee:
// our server answers it (primary) and the same bytes go to a real Cyrus
// master (secondary). A real frontend follows each. The same script of
// real IMAP operations then must leave
//   - the same answers from both servers to every command (Tee),
//   - the same MUPDATE LIST, byte for byte,
//   - the same entries in our registry as in the real master's mailboxes.db,
//   - and the same IMAP LIST for every user through either frontend, and the
//     same replica mailboxes.db on both frontends.
//
// It runs with each registry backend: leveldb and a real etcd.
func TestRealBackendAndFrontendAgainstBridge(t *testing.T) {
	t.Run("leveldb", func(t *testing.T) { againstRealMaster(t, startOurs(t)) })
	t.Run("etcd", func(t *testing.T) { againstRealMaster(t, startOursEtcd(t)) })
}

func againstRealMaster(t *testing.T, ours *ourServer) {
	master := murdertest.StartMaster(t, murdertest.Options{})
	tee := murdertest.StartTee(t, ours.Addr, master.MupdateAddr)

	be := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true})
	be.RunSteps(t, murdertest.LabSeed)
	be.Join(t, tee.Addr)
	be.CtlMboxlist(t, "-m") // the initial push (transcript lab-start-...-initial-push)

	fo := murdertest.Options{Serverlist: []string{be.Servername}}
	fo.Name = "frontend-real"
	real := side{"real master", master.MupdateAddr, murdertest.StartFrontend(t, master.MupdateAddr, fo)}
	fo.Name = "frontend-ours"
	our := side{"murder-bridge", ours.Addr, murdertest.StartFrontend(t, ours.Addr, fo)}

	be.RunSteps(t, changes)

	// Through our frontend: bob creates a mailbox (proxied to the backend,
	// which RESERVEs and ACTIVATEs through the Tee); the frontend kicks its
	// slave, which NOOPs us: the mailbox must be in LIST at once (C6).
	bob := our.frontend.IMAPAs(t, "bob")
	if err := bob.Create("INBOX.FromFrontend"); err != nil {
		t.Fatal(err)
	}
	if names, err := bob.Names("*"); err != nil || !slices.Contains(names, "INBOX.FromFrontend") {
		t.Errorf("bob's LIST right after CREATE through our frontend = %v, %v: no read-your-writes", names, err)
	}
	if err := bob.Delete("INBOX.FromFrontend"); err != nil { // C7
		t.Fatal(err)
	}
	// A reconcile pass with nothing to do (transcript ...-rerun).
	be.CtlMboxlist(t, "-m")

	tee.Close()
	if d := tee.Differences(); len(d) > 0 {
		t.Errorf("our server answered differently from the real master:\n%s", strings.Join(d, "\n"))
	}
	if n := len(tee.Conns()); n < len(changes) {
		t.Errorf("only %d MUPDATE connections went through the tee", n)
	}

	// MUPDATE LIST, byte for byte.
	want, err := rawSession(master.MupdateAddr, "admin", "adminpw", "LIST", `FIND "user.alice"`, `LIST "`+be.Servername+`!"`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rawSession(ours.Addr, "admin", "adminpw", "LIST", `FIND "user.alice"`, `LIST "`+be.Servername+`!"`)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MUPDATE LIST/FIND: real master (-) vs ours (+):\n%s", diff)
	}
	if len(want[0]) < 4*10 {
		t.Errorf("real master lists only %d lines: the script did not run?", len(want[0]))
	}

	// Registry vs the real master's mailboxes.db.
	compareRegistry(t, ours.Store, master.Dump(t))

	// IMAP LIST through each frontend, for every user. Cyrus's master
	// batches updates (5 s), so wait until both frontends agree.
	for _, user := range []string{"alice", "bob", "admin"} {
		var lr, lo []murdertest.ListItem
		err := murdertest.Eventually(20*time.Second, func() error {
			var err error
			if lr, err = listAs(t, real.frontend, user); err != nil {
				return err
			}
			if lo, err = listAs(t, our.frontend, user); err != nil {
				return err
			}
			if d := cmp.Diff(lr, lo); d != "" {
				return fmt.Errorf("%s's LIST through the frontends: real (-) vs ours (+):\n%s", user, d)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		if len(lr) < 3 {
			t.Errorf("%s sees only %v", user, lr)
		}
	}
	// The frontends' replicas (again waiting out Cyrus's batching: the last
	// ctl_mboxlist -m moved entries to "!default").
	err = murdertest.Eventually(20*time.Second, func() error {
		dr, do := real.frontend.Dump(t), our.frontend.Dump(t)
		for _, d := range []map[string]murdertest.DumpEntry{dr, do} {
			for k, e := range d {
				e.Mtime = ""
				d[k] = e
			}
		}
		if diff := cmp.Diff(dr, do); diff != "" {
			return fmt.Errorf("frontend mailboxes.db: real (-) vs ours (+):\n%s", diff)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func listAs(t *testing.T, fe *murdertest.Instance, user string) ([]murdertest.ListItem, error) {
	s, err := murdertest.DialIMAP(fe.IMAPAddr, user, fe.Users[user])
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.List("*")
}

// compareRegistry checks that the registry holds exactly the real master's
// entries: the same names, reserved or not, server, partition and ACL.
func compareRegistry(t *testing.T, st registry.Store, master map[string]murdertest.DumpEntry) {
	t.Helper()
	type rec struct {
		Reserved          bool
		Server, Partition string
		ACL               map[string]string
	}
	want := map[string]rec{}
	for n, e := range master {
		want[n] = rec{strings.Contains(e.MBType, "z"), e.Server, e.Partition, e.ACL}
	}
	got := map[string]rec{}
	_, err := st.List(context.Background(), "", func(e registry.Entry) error {
		acl := map[string]string{}
		for _, it := range e.ACL {
			acl[it.ID] = it.Rights
		}
		p := e.Primary()
		got[e.Name] = rec{e.Type.Has(mboxlist.FlagReserve), p.Server, p.Partition, acl}
		if !e.Type.Has(mboxlist.FlagRemote) || e.Type.Kind() != mboxlist.TypeEmail {
			t.Errorf("%s: registry type %#x, want email+remote like the master's \"er\"", e.Name, e.Type)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("registry vs the real master's mailboxes.db (-master +registry):\n%s", diff)
	}
	names := slices.Sorted(maps.Keys(got))
	t.Logf("registry holds %d entries, as the real master: %v", len(names), names)
}
