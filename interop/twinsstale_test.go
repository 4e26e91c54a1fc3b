package interop

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/internal/twingen"
)

// Master-only entries (docs/twins.md, docs/runbook.md step 4): entries
// the MUPDATE master places on a backend that does not hold them. Cyrus
// 3.6.1 leaves them after a DELETE on a backend with delete_mode:
// immediate and after a LOCALDELETE; both twins have them alike.

// masterOnly lists the master's entries that the backend named by their
// server does not hold (no entry, or a tombstone, intermediate or
// reserved one), as "NAME at {beN}", sorted. Only the JSON dumps of 3.6
// and later are read (3.2's dump lines are left out).
func masterOnly(st state) []string {
	var out []string
	for n, e := range st.Dumps["master"] {
		srv := e.get("server")
		for i := 0; i < twingen.Backends; i++ {
			if srv != fmt.Sprintf("{be%d}", i) {
				continue
			}
			be, ok := st.Dumps[fmt.Sprintf("be%d", i)][n]
			if ok && !strings.ContainsAny(be.get("mbtype"), "diz") {
				continue
			}
			out = append(out, fmt.Sprintf("%s at {be%d}", reHexN.ReplaceAllString(n, ".{hex}"), i))
		}
	}
	sort.Strings(out)
	return out
}

// checkBackend runs `mboxconv check-backend` on backend i's live
// mailboxes.db against twin B's registry (through the bridge's HTTP API).
func (tw *twin) checkBackend(t *testing.T, i int) (int, string) {
	t.Helper()
	return runBin(t, 2*time.Minute, mboxconvBinary(t), "check-backend", filepath.Join(tw.be[i].ConfigDir, "mailboxes.db"),
		"--server", tw.be[i].Servername, "--bridge", tw.api, "--token-file", tw.token)
}

var (
	reMasterOnly = regexp.MustCompile(`(?m)^master-only (\S+):`)
	reHexN       = regexp.MustCompile(`\.\{hex#\d+\}`)
)

// cleanStale is the runbook's check before a shadow run (docs/runbook.md,
// step 4): `mboxconv check-backend` of every backend of twin B against its
// registry. Master-only entries it names must be exactly those twin A's
// Cyrus master holds for a backend that does not hold them (otherwise the
// bridge made them: a difference); then both twins get the clean-up the
// runbook gives, `ctl_mboxlist -m` on that backend, recorded in the
// generator's model, and the check must come back clean.
func cleanStale(t *testing.T, step int, a, b *twin, g *twingen.Generator) {
	t.Helper()
	sa, err := a.settled(t)
	if err != nil {
		t.Fatalf("step %d: twin A never settled: %v", step, err)
	}
	want := masterOnly(sa)
	for i := range b.be {
		code, out := b.checkBackend(t, i)
		var got []string
		for _, m := range reMasterOnly.FindAllStringSubmatch(out, -1) {
			got = append(got, fmt.Sprintf("%s at {be%d}", reDeletedHex.ReplaceAllString(b.norm(m[1]), "$1.{hex}"), i))
		}
		var wantHere []string
		for _, w := range want {
			if strings.HasSuffix(w, fmt.Sprintf(" at {be%d}", i)) {
				wantHere = append(wantHere, w)
			}
		}
		if d := cmp.Diff(wantHere, got); d != "" || (code == 0) != (len(got) == 0) || (code != 0 && code != 1) {
			t.Fatalf("step %d: twin B: check-backend of be%d (exit %d) does not name exactly the master-only entries twin A's Cyrus master has for be%d (-twin A +check):\n%s\n%s\n%s", step, i, code, i, d, out, b.logs())
		}
		if code == 0 {
			continue
		}
		t.Logf("step %d: before the shadow run: Cyrus's master-only entries (the same on twin A) named by check-backend of be%d:\n%s", step, i, strings.TrimSpace(out))
		op := g.RepushOp(i)
		var ra, rb []string
		both(func() { ra = a.apply(t, op) }, func() { rb = b.apply(t, op) })
		if t.Failed() {
			t.FailNow()
		}
		if d := cmp.Diff(ra, rb); d != "" {
			t.Fatalf("step %d: the clean-up %s answered differently, twin A (-) twin B (+):\n%s\n%s%s", step, op, d, a.logs(), b.logs())
		}
		g.Apply(op, ra[0] == "exit 0")
		if err := murdertest.Eventually(40*time.Second, func() error {
			if code, out = b.checkBackend(t, i); code != 0 {
				return fmt.Errorf("exit %d\n%s", code, out)
			}
			return nil
		}); err != nil {
			t.Fatalf("step %d: twin B: after ctl_mboxlist -m on be%d, check-backend is still not clean: %v\n%s", step, i, err, b.logs())
		}
		t.Logf("step %d: ctl_mboxlist -m on be%d of both twins cleaned them; check-backend: %s", step, i, strings.TrimSpace(out))
	}
}

// staleCanary proves check-backend sees a master-only entry: a
// LOCALDELETE of user.canary on twin B's backend 0 alone must be named.
func staleCanary(t *testing.T, b *twin) {
	t.Helper()
	if _, err := imapEach(b.be[0].IMAPAddr, "admin", murdertest.DefaultUsers["admin"], []string{`LOCALDELETE "user.canary"`}); err != nil {
		t.Fatal(err)
	}
	code, out := b.checkBackend(t, 0)
	if code != 1 || !regexp.MustCompile(`(?m)^master-only user\.canary: `).MatchString(out) {
		t.Errorf("a LOCALDELETE on twin B's be0 alone: check-backend (exit %d) does not name user.canary as master-only:\n%s", code, out)
	}
}
