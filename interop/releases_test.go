package interop

import (
	"fmt"
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
