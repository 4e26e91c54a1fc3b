package interop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// MUPDATE against other Cyrus releases: a real 3.2.6, 3.10.2 or 3.12.4
// backend (in its Debian chroot, listening on loopback) whose
// mupdate_server is a Tee: murder-bridge answers it (primary) and the same
// bytes go to a real mupdate master of the same release (secondary). The
// backend pushes its mailboxes (ctl_mboxlist -m) and goes through the 3.6
// tests' changes (create, setacl with negative rights, rename, delayed
// delete, non-ASCII names, a user created...); a frontend of the same
// release follows the bridge. Then:
//   - both masters answered every command the same (Tee),
//   - their MUPDATE LIST and FIND are the same, byte for byte,
//   - every user's LIST through the frontend equals the backend's own.
func TestReleaseBackendAndFrontendAgainstBridge(t *testing.T) {
	for _, v := range []string{"3.2", "3.10", "3.12"} {
		t.Run(v, func(t *testing.T) {
			rel := cyrustest.ReleaseOf(t, v)
			ours := startOurs(t)
			master := murdertest.StartMaster(t, murdertest.Options{Release: rel, Name: "master-" + v})
			tee := murdertest.StartTee(t, ours.Addr, master.MupdateAddr)
			be := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true, Release: rel, Name: "backend-" + v})
			be.RunSteps(t, murdertest.LabSeed)
			be.Join(t, tee.Addr)
			be.CtlMboxlist(t, "-m")
			be.RunSteps(t, releaseChanges(v))
			fe := murdertest.StartFrontend(t, ours.Addr, murdertest.Options{Release: rel, Name: "frontend-" + v, Serverlist: []string{be.Servername}})
			be.CtlMboxlist(t, "-m") // a reconcile pass through the tee

			tee.Close()
			if d := tee.Differences(); len(d) > 0 {
				t.Errorf("Cyrus %s: the bridge answered differently from the real master:\n%s", v, strings.Join(d, "\n"))
			}
			cmds := []string{"LIST", `FIND "user.alice"`, `LIST "` + be.Servername + `!"`}
			want, err := rawSession(master.MupdateAddr, "admin", "adminpw", cmds...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rawSession(ours.Addr, "admin", "adminpw", cmds...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Cyrus %s: MUPDATE LIST/FIND: real master (-) vs bridge (+):\n%s", v, diff)
			}
			if len(want[0]) < 10 {
				t.Errorf("Cyrus %s: the real master lists only %d lines: the changes did not run?", v, len(want[0]))
			}
			for _, user := range []string{"alice", "bob", "admin"} {
				var lb, lf []murdertest.ListItem
				err := murdertest.Eventually(20*time.Second, func() error {
					var err error
					if lb, err = listAs(t, be, user); err != nil {
						return err
					}
					if lf, err = listAs(t, fe, user); err != nil {
						return err
					}
					if d := cmp.Diff(lb, lf); d != "" {
						return fmt.Errorf("%s's LIST: backend (-) vs frontend following the bridge (+):\n%s", user, d)
					}
					return nil
				})
				if err != nil {
					t.Errorf("Cyrus %s: %v", v, err)
				}
			}
		})
	}
}

// releaseChanges are the 3.6 tests' changes as release v takes them: 3.10
// and 3.12 answer a CREATE of a raw UTF-8 name ("INBOX.été 2024", which
// 3.6 accepts) with NO Invalid mailbox name, so they get the same name in
// modified UTF-7.
func releaseChanges(v string) []murdertest.Step {
	out := make([]murdertest.Step, 0, len(changes))
	for _, s := range changes {
		if v != "3.2" && s.Op == "CREATE" && len(s.Args) == 1 && s.Args[0] == "INBOX.été 2024" {
			s.Args = []string{"INBOX.&AOk-t&AOk- 2024"}
		}
		out = append(out, s)
	}
	return out
}

// A mixed-release murder on one bridge, as during a rolling upgrade: a real
// 3.2.6 backend holding alice and a real 3.10.2 backend holding bob push
// to murder-bridge, and a real 3.12.4 frontend follows it. Through the
// frontend each user sees what their own backend lists, the admin sees
// both backends' mailboxes, and a CREATE through the frontend lands on the
// user's backend (3.12 proxying to 3.2 and 3.10 with the bridge's
// RESERVE/ACTIVATE in between).
func TestMixedReleaseMurderOnBridge(t *testing.T) {
	r32, r310, r312 := cyrustest.ReleaseOf(t, "3.2"), cyrustest.ReleaseOf(t, "3.10"), cyrustest.ReleaseOf(t, "3.12")
	ours := startOurs(t)
	be32 := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true, Release: r32, Name: "backend-3.2"})
	be310 := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true, Release: r310, Name: "backend-3.10"})
	be32.RunSteps(t, []murdertest.Step{
		{Op: "CREATE", Args: []string{"user.alice"}},
		{Op: "CREATE", Args: []string{"user.alice.Sent"}},
		{Op: "CREATE", Args: []string{"shared.old"}},
		{Op: "SETACL", Args: []string{"shared.old", "anyone", "lrs"}},
		{Op: "SETACL", Args: []string{"shared.old", "-bob", "s"}},
	})
	be310.RunSteps(t, []murdertest.Step{
		{Op: "CREATE", Args: []string{"user.bob"}},
		{Op: "CREATE", Args: []string{"user.bob.Lists"}},
		{Op: "CREATE", Args: []string{"user.bob.Lists.Go"}},
		{Op: "SETACL", Args: []string{"user.bob.Lists", "alice", "lr"}},
	})
	for _, be := range []*murdertest.Instance{be32, be310} {
		be.Join(t, ours.Addr)
		be.CtlMboxlist(t, "-m")
	}
	be32.RunSteps(t, []murdertest.Step{{User: "alice", Op: "CREATE", Args: []string{"INBOX.Projects"}}})
	be310.RunSteps(t, []murdertest.Step{
		{User: "bob", Op: "RENAME", Args: []string{"INBOX.Lists", "INBOX.Mail"}},
	})
	fe := murdertest.StartFrontend(t, ours.Addr, murdertest.Options{Release: r312, Name: "frontend-3.12",
		Serverlist: []string{be32.Servername, be310.Servername}})

	// A frontend lists what the user may see on every backend: the union
	// of both backends' LISTs for that user (each backend knows only its
	// own mailboxes), by name.
	byName := func(l []murdertest.ListItem) []murdertest.ListItem {
		slices.SortFunc(l, func(a, b murdertest.ListItem) int { return strings.Compare(a.Name, b.Name) })
		return l
	}
	for _, user := range []string{"alice", "bob", "admin"} {
		err := murdertest.Eventually(20*time.Second, func() error {
			var want []murdertest.ListItem
			for _, be := range []*murdertest.Instance{be32, be310} {
				l, err := listAs(t, be, user)
				if err != nil {
					return err
				}
				want = append(want, l...)
			}
			got, err := listAs(t, fe, user)
			if err != nil {
				return err
			}
			if d := cmp.Diff(byName(want), byName(got)); d != "" {
				return fmt.Errorf("%s's LIST: 3.2 and 3.10 backends (-) vs 3.12 frontend (+):\n%s", user, d)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	admin := fe.IMAPAs(t, "admin")
	names, err := admin.Names("*")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"user.alice.Projects", "user.alice.Sent", "shared.old", "user.bob.Mail.Go"} {
		if !slices.Contains(names, want) {
			t.Errorf("admin's LIST through the 3.12 frontend lacks %s: %v", want, names)
		}
	}
	// CREATE through the 3.12 frontend goes to the user's own backend.
	bob := fe.IMAPAs(t, "bob")
	if err := bob.Create("INBOX.FromFrontend"); err != nil {
		t.Fatal(err)
	}
	if err := murdertest.Eventually(10*time.Second, func() error {
		ns, err := be310.IMAPAs(t, "bob").Names("*")
		if err != nil || !slices.Contains(ns, "INBOX.FromFrontend") {
			return fmt.Errorf("bob's mailbox created through the 3.12 frontend is not on the 3.10 backend: %v %v", ns, err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// murder-bridge follows a real 3.2.6, 3.10.2 or 3.12.4 master (follow mode,
// configured from that release's backend imapd.conf): after the first full
// list and after the 3.6 tests' changes on that release's backend, the
// bridge's MUPDATE LIST equals the master's.
func TestBridgeFollowsReleaseMaster(t *testing.T) {
	for _, v := range []string{"3.2", "3.10", "3.12"} {
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rel := cyrustest.ReleaseOf(t, v)
			m := murdertest.StartMurder(t, murdertest.MurderOptions{Seed: murdertest.LabSeed, NoFrontend: true,
				Master:  murdertest.Options{Release: rel, Name: "master-" + v},
				Backend: murdertest.Options{Release: rel, Name: "backend-" + v}})
			dir := t.TempDir()
			credFile := filepath.Join(dir, "credentials")
			if err := os.WriteFile(credFile, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			listen := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
			p := startServe(t, "--registry", "leveldb://"+filepath.Join(dir, "registry"), "--data-dir", dir, "--listen", listen,
				"--credentials", credFile, "--admins", "murder,admin", "--imapd-conf", m.Backend.Conf)
			waitGreeting(t, listen)
			same := func(when string) {
				t.Helper()
				var d string
				if err := murdertest.Eventually(30*time.Second, func() error {
					d = cmp.Diff(listAll(ctx, t, m.MupdateAddr), listAll(ctx, t, listen))
					if d != "" {
						return errors.New("differs")
					}
					return nil
				}); err != nil {
					t.Fatalf("Cyrus %s %s: master LIST (-) vs following bridge LIST (+):\n%s\nbridge:\n%s", v, when, d, p.out.String())
				}
			}
			same("after the first full list")
			n0 := len(listAll(ctx, t, m.MupdateAddr))
			m.Backend.RunSteps(t, releaseChanges(v))
			same("after the changes")
			if n := len(listAll(ctx, t, m.MupdateAddr)); n <= n0 {
				t.Errorf("Cyrus %s master holds %d entries after the changes (%d before)", v, n, n0)
			}
		})
	}
}

// releaseChecks are the Cyrus releases the costlier per-release checks
// (TestIPv6Loopback, TestXferBetweenBackends) run on: MURDERKIT_RELEASE_CHECKS
// (comma-separated, e.g. "3.6,3.2,3.10,3.12", which `make release-checks`
// sets), or the host's 3.6 alone when it is unset, which keeps `make test`
// within its time. A release that is not known or whose chroot is missing
// fails the test (cyrustest.ReleaseOf).
func releaseChecks(t *testing.T) []string {
	t.Helper()
	s := os.Getenv("MURDERKIT_RELEASE_CHECKS")
	if s == "" {
		return []string{"3.6"}
	}
	var vs []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v == "" {
			t.Fatalf("MURDERKIT_RELEASE_CHECKS=%q: an empty release", s)
		}
		vs = append(vs, v)
	}
	return vs
}
