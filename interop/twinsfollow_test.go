package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/internal/twingen"
)

// The follow variant of the twin murders (docs/twins.md): twin A is a plain
// Cyrus 3.6.1 murder; twin B starts as the same Cyrus murder, and
// `murder-bridge serve --follow` mirrors its master while the same seeded
// history runs on both. Along the way twin B goes down docs/runbook.md's
// path: slots s0 (backend 0) and s1 (backend 1) are defined mirrored, each
// is shadowed clean against its frontend and cut over (its backend then
// sends MUPDATE to the bridge, which writes through to the old master);
// after the second cutover the frontend follows the bridge; midway after
// that slot s0 is rolled back (backend 0 back on the old master). After
// every step the users of twin B must see exactly what twin A's see, both
// old masters must hold the same mailboxes.db, and the registry must equal
// them.
func TestTwinMurdersFollowCutover(t *testing.T) {
	seeds, steps, _ := twinParams(t)
	if seeds == nil {
		seeds = []uint64{5}
	}
	if os.Getenv("MURDERKIT_TWIN_STEPS") == "" {
		steps = 12
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rel := cyrustest.ReleaseOf(t, "3.6")
			a := startTwin(t, "A", rel)
			a.registryTwin = true
			b := startFollowTwin(t, rel)
			n := driveTwins(t, "3.6", seed, steps, a, b, b.runbookPath(t, steps, a))
			t.Logf("Cyrus 3.6 follow+cutover seed=%d: %d steps, zero differences", seed, n)
		})
	}
}

// startFollowTwin is twin B of the follow variant: a Cyrus master, two
// backends and a frontend on it, and a bridge following the master.
func startFollowTwin(t *testing.T, rel cyrustest.Release) *twin {
	t.Helper()
	tw := &twin{name: "B", rel: rel, follow: true}
	tw.master = murdertest.StartMaster(t, murdertest.Options{Name: "master", Release: rel, Users: twinUsers()})
	var servers []string
	for i := range tw.be {
		tw.be[i] = murdertest.StartBackend(t, tw.master.MupdateAddr, backendOptions(rel, i))
		servers = append(servers, tw.be[i].Servername)
	}
	tw.fe = murdertest.StartFrontend(t, tw.master.MupdateAddr, murdertest.Options{Name: "fe", Release: rel, Users: twinUsers(),
		Serverlist: servers, RetryDelay: 1, Extra: []string{"virtdomains: userid", "allowusermoves: yes"}})

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var users strings.Builder
	for _, u := range (twingen.Options{}).Pool() {
		fmt.Fprintf(&users, "%s:%s\n", u, twingen.Password(u))
	}
	tw.users = write("users", users.String())
	cf := write("credentials", "murder:murderpw\nadmin:adminpw\n")
	pw := write("murderpw", "murderpw\n")
	tw.token = write("token", "twin-token\n")
	tw.bridgeAddr = fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	tw.api = "http://" + httpAddr
	tw.serveArgs = []string{"--registry", "leveldb://" + filepath.Join(dir, "registry"), "--data-dir", dir,
		"--listen", tw.bridgeAddr, "--credentials", cf, "--admins", "murder,admin", "--servername", "master.murdertest",
		"--follow", tw.master.MupdateAddr, "--follow-user", "murder", "--follow-password-file", pw, "--follow-mech", "PLAIN",
		"--http", httpAddr, "--http-token-file", tw.token}
	tw.bridge = startServe(t, tw.serveArgs...)
	waitGreeting(t, tw.bridgeAddr)
	if err := murdertest.Eventually(60*time.Second, func() error {
		code, body, err := httpGet(tw.api + "/readyz")
		if err != nil || code != 200 {
			return fmt.Errorf("/readyz %d %s %v", code, body, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("twin B: the bridge following its master never got ready: %v\n%s", err, tw.bridge.out.String())
	}
	tw.dumpTo = cyrustest.NewConfigIn(t, rel)
	for i, b := range tw.be {
		if code, out := tw.slot(t, "define", fmt.Sprintf("s%d", i), "--location", b.Servername, "--state", "mirrored"); code != 0 {
			t.Fatalf("twin B: slot define s%d: exit %d\n%s", i, code, out)
		}
	}
	return tw
}

func (tw *twin) slot(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runBin(t, time.Minute, murderBridgeBinary(t),
		append(append([]string{"slot"}, args...), "--bridge", tw.api, "--token-file", tw.token)...)
}

// runbookPath returns the before-step hook of the follow variant: cutover
// of s0 at a quarter of the steps, of s1 and the frontend at half, rollback
// of s0 at three quarters. Before each cutover's shadow run, Cyrus's
// master-only entries are named and cleaned on both twins (cleanStale), as
// docs/runbook.md step 4 tells an operator; twin a is twin A.
func (tw *twin) runbookPath(t *testing.T, steps int, a *twin) func(step int, g *twingen.Generator) {
	at := func(f int) int { return max(1, steps*f/4) }
	cut := map[int]bool{}
	return func(step int, g *twingen.Generator) {
		switch {
		case step == at(1) && !cut[0]:
			cut[0] = true
			cleanStale(t, step, a, tw, g)
			tw.cutover(t, 0, step)
		case step == at(2) && !cut[1]:
			cut[1] = true
			cleanStale(t, step, a, tw, g)
			tw.cutover(t, 1, step)
			tw.fe.Join(t, tw.bridgeAddr)
			t.Logf("step %d: twin B's frontend now follows the bridge", step)
		case step == at(3) && cut[0] && !cut[2]:
			cut[2] = true
			tw.rollback(t, 0, step)
		}
	}
}

// cutover shadows slot s<i> clean against the frontend (recorded on the
// slot), cuts it over and points backend i at the bridge.
func (tw *twin) cutover(t *testing.T, i, step int) {
	t.Helper()
	name := fmt.Sprintf("s%d", i)
	var code int
	var out string
	murdertest.Eventually(40*time.Second, func() error {
		code, out = runBin(t, 3*time.Minute, murderBridgeBinary(t), "shadow", "--old", "imap://"+tw.fe.IMAPAddr,
			"--users", tw.users, "--concurrency", "2", "--rate", "0", "--progress", "none",
			"--registry", tw.api, "--slot", name, "--token-file", tw.token)
		if code != 0 {
			return fmt.Errorf("exit %d", code)
		}
		return nil
	})
	if code != 0 {
		t.Fatalf("step %d: twin B: shadow of the frontend vs the registry for slot %s: exit %d\n%s\n%s", step, name, code, tail(out, 4000), tw.logs())
	}
	if code, out := tw.slot(t, "cutover", name, "--note", "twins"); code != 0 {
		t.Fatalf("step %d: twin B: slot cutover %s: exit %d\n%s", step, name, code, out)
	}
	tw.be[i].Join(t, tw.bridgeAddr)
	time.Sleep(6 * time.Second) // the follow Guard caches the slots for 5 s
	t.Logf("step %d: twin B: slot %s cut over (backend %d on the bridge)", step, name, i)
}

// rollback rolls slot s<i> back and points backend i at the old master.
func (tw *twin) rollback(t *testing.T, i, step int) {
	t.Helper()
	name := fmt.Sprintf("s%d", i)
	if code, out := tw.slot(t, "rollback", name, "--note", "twins"); code != 0 {
		t.Fatalf("step %d: twin B: slot rollback %s: exit %d\n%s", step, name, code, out)
	}
	tw.be[i].Join(t, tw.master.MupdateAddr)
	// the follow Guard caches the slots for 5 s and says nowhere when it
	// read them last: only the passing time tells
	time.Sleep(6 * time.Second)
	t.Logf("step %d: twin B: slot %s rolled back (backend %d on the old master)", step, name, i)
}
