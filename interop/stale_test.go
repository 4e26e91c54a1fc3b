package interop

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/internal/twingen"
)

// Master-only entries on real Cyrus 3.6.1 (docs/runbook.md step 4,
// docs/twins.md): a murder (master, backend 0 with delete_mode: delayed,
// backend 1 with delete_mode: immediate, a frontend) and a bridge
// following its master, as the twins' follow variant builds it.
//
//   - carol's folder deleted through the frontend on be1, and then the
//     whole user, stay in the master (3.6.1 deletes on an immediate-delete
//     backend without telling MUPDATE), and frank's folder LOCALDELETEd on
//     be0 too; the bridge following the master holds them as well;
//   - the frontend lists carol's INBOX in a plain LIST (from its own
//     mailboxes.db) but not in LIST ... RETURN (SPECIAL-USE), which it
//     passes to the backends; SELECT of it fails;
//   - `murder-bridge shadow` of the frontend against the registry fails on
//     them, and `mboxconv check-backend` names each one, per backend, as
//     master-only, with the clean-up on stderr (exit 1);
//   - `ctl_mboxlist -m -w` on the backend shows "Remove from MUPDATE" for
//     them, `ctl_mboxlist -m` removes them from the master, the bridge
//     follows, and check-backend and shadow are clean.
func TestCheckBackendNamesMasterOnlyEntries(t *testing.T) {
	rel := cyrustest.ReleaseOf(t, "3.6")
	b := startFollowTwin(t, rel)
	admin := func(i int, cmds ...string) {
		t.Helper()
		res, err := imapEach(b.be[i].IMAPAddr, "admin", murdertest.DefaultUsers["admin"], cmds)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range res {
			if !strings.HasPrefix(r.status, "OK") {
				t.Fatalf("be%d: %s: %s", i, cmds[j], r.status)
			}
		}
	}
	as := func(user string, cmds ...string) []imapResult {
		t.Helper()
		res, err := imapEach(b.fe.IMAPAddr, user, twingen.Password(user), cmds)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	mustOK := func(res []imapResult) {
		t.Helper()
		for _, r := range res {
			if !strings.HasPrefix(r.status, "OK") {
				t.Fatalf("%+v", res)
			}
		}
	}
	admin(1, `CREATE "user.carol"`)
	admin(0, `CREATE "user.frank"`, `CREATE "user.frank.Sent"`, `CREATE "user.frank.Sent.old"`)
	mustOK(as("carol", `CREATE "INBOX.2026"`, `CREATE "INBOX.gone"`))
	mustOK(as("carol", `DELETE "INBOX.gone"`))
	admin(0, `LOCALDELETE "user.frank.Sent.old"`)
	// the admin deletes the whole user carol through the frontend
	res, err := imapEach(b.fe.IMAPAddr, "admin", murdertest.DefaultUsers["admin"],
		[]string{`SETACL "user.carol" admin lrswipkxtecda`, `DELETE "user.carol"`})
	if err != nil || !strings.HasPrefix(res[1].status, "OK") {
		t.Fatalf("DELETE user.carol through the frontend: %+v %v", res, err)
	}

	// Cyrus: the master still holds them; the backends do not
	stale := map[int][]string{0: {"user.frank.Sent.old"}, 1: {"user.carol", "user.carol.gone"}}
	if err := murdertest.Eventually(30*time.Second, func() error {
		md := b.dump(t, b.master)
		for i, names := range stale {
			bd := b.dump(t, b.be[i])
			for _, n := range names {
				if _, ok := md[n]; !ok {
					return fmt.Errorf("the master no longer holds %s", n)
				}
				if e, ok := bd[n]; ok && !strings.ContainsAny(e.get("mbtype"), "di") {
					return fmt.Errorf("be%d still holds %s: %v", i, n, e)
				}
			}
		}
		if _, ok := md["user.carol.2026"]; ok {
			return fmt.Errorf("the master still holds user.carol.2026 (deleted with the user)")
		}
		return nil
	}); err != nil {
		t.Fatalf("Cyrus 3.6.1 did not leave the master-only entries this test is about: %v\n%s", err, b.logs())
	}
	// the frontend: plain LIST from its own mailboxes.db, RETURN
	// (SPECIAL-USE) from the backends
	r := as("carol", `LIST "" "*"`, `LIST "" "*" RETURN (SPECIAL-USE)`, `SELECT "INBOX"`)
	if l := strings.Join(r[0].untagged, "\n"); !regexp.MustCompile(`(?m)^\* LIST \([^)]*\) "\." INBOX$`).MatchString(l) {
		t.Errorf("carol's plain LIST through the frontend does not show INBOX (from the frontend's own mailboxes.db):\n%s", l)
	}
	if l := strings.Join(r[1].untagged, "\n"); strings.Contains(l, "INBOX") {
		t.Errorf("carol's LIST RETURN (SPECIAL-USE) through the frontend shows INBOX, which be1 no longer holds:\n%s", l)
	}
	if strings.HasPrefix(r[2].status, "OK") {
		t.Errorf("SELECT INBOX as carol succeeded: %q", r[2].status)
	}

	// the bridge follows the master: the registry holds them too
	if err := murdertest.Eventually(30*time.Second, func() error {
		rd := b.registryDump(t)
		for _, names := range stale {
			for _, n := range names {
				if _, ok := rd[n]; !ok {
					return fmt.Errorf("the registry does not hold %s", n)
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	code, out := runBin(t, 3*time.Minute, murderBridgeBinary(t), "shadow", "--old", "imap://"+b.fe.IMAPAddr,
		"--users", b.users, "--concurrency", "2", "--rate", "0", "--progress", "none", "--registry", b.api, "--token-file", b.token)
	if code != 1 || !strings.Contains(out, `carol: only-new "INBOX"`) || !strings.Contains(out, `frank: only-new "INBOX.Sent.old"`) {
		t.Errorf("shadow of the frontend against the registry: exit %d, want 1 with carol's INBOX and frank's INBOX.Sent.old only-new:\n%s", code, out)
	}

	// check-backend names each, on its backend, and says how to clean
	for i, names := range stale {
		code, out := b.checkBackend(t, i)
		if code != 1 {
			t.Errorf("check-backend be%d: exit %d, want 1:\n%s", i, code, out)
		}
		got := reMasterOnly.FindAllStringSubmatch(out, -1)
		var gotNames []string
		for _, m := range got {
			gotNames = append(gotNames, m[1])
		}
		if strings.Join(gotNames, " ") != strings.Join(names, " ") {
			t.Errorf("check-backend be%d names %v as master-only, want %v:\n%s", i, gotNames, names, out)
		}
		for _, want := range []string{"ctl_mboxlist -m -w", "Remove from MUPDATE", "stale: "} {
			if !strings.Contains(out, want) {
				t.Errorf("check-backend be%d: the message does not say %q:\n%s", i, want, out)
			}
		}
		if regexp.MustCompile(`(?m)^backend-only `).MatchString(out) {
			t.Errorf("check-backend be%d: backend-only entries on a murder in step:\n%s", i, out)
		}
	}

	// Cyrus's clean-up, as the message says: -m -w shows, -m does
	for i, names := range stale {
		w := b.be[i].Run(t, nil, "ctl_mboxlist", "-m", "-w")
		for _, n := range names {
			if !strings.Contains(string(w.Stdout), "Remove from MUPDATE: "+n) {
				t.Errorf("ctl_mboxlist -m -w on be%d does not show %s:\n%s%s", i, n, w.Stdout, w.Stderr)
			}
		}
		if r := b.be[i].Run(t, nil, "ctl_mboxlist", "-m"); r.ExitCode != 0 {
			t.Fatalf("ctl_mboxlist -m on be%d: exit %d\n%s%s", i, r.ExitCode, r.Stdout, r.Stderr)
		}
	}
	for i := range stale {
		if err := murdertest.Eventually(40*time.Second, func() error {
			if code, out := b.checkBackend(t, i); code != 0 {
				return fmt.Errorf("exit %d\n%s", code, out)
			}
			return nil
		}); err != nil {
			t.Errorf("check-backend be%d after ctl_mboxlist -m: %v", i, err)
		}
	}
	if err := murdertest.Eventually(40*time.Second, func() error {
		code, out := runBin(t, 3*time.Minute, murderBridgeBinary(t), "shadow", "--old", "imap://"+b.fe.IMAPAddr,
			"--users", b.users, "--concurrency", "2", "--rate", "0", "--progress", "none", "--registry", b.api, "--token-file", b.token)
		if code != 0 {
			return fmt.Errorf("exit %d\n%s", code, out)
		}
		return nil
	}); err != nil {
		t.Errorf("shadow after the clean-up: %v", err)
	}
}
