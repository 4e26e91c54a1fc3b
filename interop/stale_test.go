package interop

import (
	"fmt"
	"os"
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
//
// MURDERKIT_STALE_VERSIONS (default "3.6") runs it on other releases too
// ("3.2,3.6,3.10,3.12"): 3.10.2 and 3.12.4 behave as 3.6.1; 3.2.6 tells
// the master of a DELETE on an immediate-delete backend, so there only
// the LOCALDELETE stays behind.
func TestCheckBackendNamesMasterOnlyEntries(t *testing.T) {
	vs := os.Getenv("MURDERKIT_STALE_VERSIONS")
	if vs == "" {
		vs = "3.6"
	}
	for _, v := range strings.Split(vs, ",") {
		t.Run(strings.TrimSpace(v), func(t *testing.T) { masterOnlyEntries(t, strings.TrimSpace(v)) })
	}
}

// notHeld reports whether a backend's dump entry is not a mailbox it
// holds: a tombstone, or (3.6 and later) an intermediate.
func notHeld(e dumpEntry) bool {
	return tombstone(e) || strings.Contains(e.get("mbtype"), "i")
}

func masterOnlyEntries(t *testing.T, version string) {
	rel := cyrustest.ReleaseOf(t, version)
	b := startFollowTwin(t, rel)
	// 3.2.6 sends MUPDATE DELETE for a DELETE on an immediate-delete backend
	immediateLeaves := version != "3.2"
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
	// the master's batch to its slaves: the frontend knows carol's INBOX
	feHas := func(names ...string) {
		t.Helper()
		if err := murdertest.Eventually(30*time.Second, func() error {
			fd := b.dump(t, b.fe)
			for _, n := range names {
				if _, ok := fd[n]; !ok {
					return fmt.Errorf("the frontend does not hold %s yet", n)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	feHas("user.carol", "user.frank.Sent.old")
	mustOK(as("carol", `CREATE "INBOX.2026"`, `CREATE "INBOX.gone"`))
	feHas("user.carol.gone")
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
	gone := []string{"user.carol.2026"} // deleted with the user: the master was told
	if !immediateLeaves {
		stale[1] = nil
		gone = append(gone, "user.carol", "user.carol.gone")
	}
	if err := murdertest.Eventually(30*time.Second, func() error {
		md := b.dump(t, b.master)
		for i, names := range stale {
			bd := b.dump(t, b.be[i])
			for _, n := range names {
				if _, ok := md[n]; !ok {
					return fmt.Errorf("the master no longer holds %s", n)
				}
				if e, ok := bd[n]; ok && !notHeld(e) {
					return fmt.Errorf("be%d still holds %s: %v", i, n, e)
				}
			}
		}
		for _, n := range gone {
			if _, ok := md[n]; ok {
				return fmt.Errorf("the master still holds %s", n)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("Cyrus %s did not leave the master-only entries this test is about: %v\n%s", version, err, b.logs())
	}
	// the frontend: plain LIST from its own mailboxes.db, RETURN
	// (SPECIAL-USE) from the backends
	for _, c := range []struct{ user, name string }{{"frank", "INBOX.Sent.old"}, {"carol", "INBOX"}} {
		if c.user == "carol" && !immediateLeaves {
			continue
		}
		r := as(c.user, `LIST "" "*"`, `LIST "" "*" RETURN (SPECIAL-USE)`, `SELECT "`+c.name+`"`)
		line := regexp.MustCompile(`(?m)^\* LIST \([^)]*\) "\." ` + regexp.QuoteMeta(c.name) + `$`)
		if l := strings.Join(r[0].untagged, "\n"); !line.MatchString(l) {
			t.Errorf("%s's plain LIST through the frontend does not show %s (from the frontend's own mailboxes.db):\n%s", c.user, c.name, l)
		}
		if l := strings.Join(r[1].untagged, "\n"); line.MatchString(l) {
			t.Errorf("%s's LIST RETURN (SPECIAL-USE) through the frontend shows %s, which its backend no longer holds:\n%s", c.user, c.name, l)
		}
		if strings.HasPrefix(r[2].status, "OK") {
			t.Errorf("SELECT %s as %s succeeded: %q", c.name, c.user, r[2].status)
		}
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
	if code != 1 || (immediateLeaves != strings.Contains(out, `carol: only-new "INBOX"`)) || !strings.Contains(out, `frank: only-new "INBOX.Sent.old"`) {
		t.Errorf("shadow of the frontend against the registry: exit %d, want 1 with frank's INBOX.Sent.old (and on 3.6+ carol's INBOX) only-new:\n%s", code, out)
	}
	if !strings.Contains(out, "shadow: note: ") || !strings.Contains(out, "`mboxconv check-backend` names them") {
		t.Errorf("shadow with only-new names against the registry does not point to check-backend:\n%s", out)
	}

	// check-backend names each, on its backend, and says how to clean
	for i, names := range stale {
		code, out := b.checkBackend(t, i)
		if len(names) == 0 {
			if code != 0 || !strings.Contains(out, "clean: ") {
				t.Errorf("check-backend be%d: exit %d, want 0 (clean):\n%s", i, code, out)
			}
			continue
		}
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
		if len(names) == 0 {
			continue
		}
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
