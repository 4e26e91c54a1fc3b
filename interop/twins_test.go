package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/internal/twingen"
)

// Twin murders (docs/twins.md): two identical real Cyrus murders of one
// release — each two backends and one frontend — twin A with Cyrus's own
// `mupdate -m` as master, twin B with `murder-bridge serve`. The seeded
// generator (internal/twingen) drives both through the same operations;
// after each step the harness compares the two twins and stops at the
// first difference, printing seed, step and operation:
//   - what each command answered,
//   - each backend's and the frontend's mailboxes.db (ctl_mboxlist -d),
//   - twin A's master mailboxes.db against twin B's registry exported as a
//     mailboxes.db (mboxconv export) and dumped by the same Cyrus tool,
//   - every user's LIST, LSUB and LIST RETURN (SPECIAL-USE) through the
//     frontend, and SELECT of every mailbox each user lists.
//
// MURDERKIT_TWIN_SEEDS (comma separated; default: seed 1 for the first
// release, 2 for the second...), MURDERKIT_TWIN_STEPS (default 10) and MURDERKIT_TWIN_VERSIONS (default "3.6,3.2,3.10,3.12")
// size the run; `make twins SEEDS=... STEPS=...` runs long ones.
func TestTwinMurders(t *testing.T) {
	seeds, steps, versions := twinParams(t)
	for i, v := range versions {
		t.Run(v, func(t *testing.T) {
			seeds := seeds
			if seeds == nil {
				// CI: one short seed per release, another for each
				seeds = []uint64{uint64(i + 1)}
			}
			for _, seed := range seeds {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					n := runTwins(t, v, seed, steps)
					t.Logf("Cyrus %s seed=%d: %d steps, zero differences", v, seed, n)
				})
			}
		})
	}
}

func twinParams(t *testing.T) (seeds []uint64, steps int, versions []string) {
	t.Helper()
	s := os.Getenv("MURDERKIT_TWIN_SEEDS")
	for _, f := range strings.Split(s, ",") {
		if s == "" {
			break
		}
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			t.Fatalf("MURDERKIT_TWIN_SEEDS=%q: %v", s, err)
		}
		seeds = append(seeds, n)
	}
	steps = 10
	if v := os.Getenv("MURDERKIT_TWIN_STEPS"); v != "" {
		var err error
		if steps, err = strconv.Atoi(v); err != nil || steps < 1 {
			t.Fatalf("MURDERKIT_TWIN_STEPS=%q: want a number >= 1", v)
		}
	}
	vs := os.Getenv("MURDERKIT_TWIN_VERSIONS")
	if vs == "" {
		vs = "3.6,3.2,3.10,3.12"
	}
	for _, v := range strings.Split(vs, ",") {
		versions = append(versions, strings.TrimSpace(v))
	}
	return seeds, steps, versions
}

// twinUsers are the SASL users of every instance of both twins (the
// generator's whole pool, whichever users a release leaves out).
func twinUsers() map[string]string {
	u := map[string]string{}
	for _, n := range (twingen.Options{}).Pool() {
		u[n] = twingen.Password(n)
	}
	return u
}

// twin is one of the two murders.
type twin struct {
	name   string
	rel    cyrustest.Release
	master *murdertest.Instance // twin A
	bridge *bridgeProc          // twin B
	api    string               // twin B's HTTP API
	token  string               // its token file
	be     [twingen.Backends]*murdertest.Instance
	fe     *murdertest.Instance
	dumpTo *cyrustest.Config // twin B: where Cyrus dumps the registry's export
	// follow: twin B of the follow variant, whose bridge follows its own
	// Cyrus master (tw.master) and takes over slot by slot; registryTwin:
	// twin A of that variant, whose master stands for the registry too.
	follow, registryTwin bool
	bridgeAddr           string
	serveArgs            []string
	users                string // shadow's --users file
}

// backendOptions: both twins' backends are configured alike. Backend 1
// deletes immediately, backend 0 keeps Cyrus's default delayed delete
// (DELETED.* names); allowusermoves lets the admin rename and XFER users;
// an XFER's source logs in to the destination as "murder"
// (proxy_authname), which is an admin so that it may use the replication
// commands there (as interop/xfer_test.go; docs/twins.md).
func backendOptions(rel cyrustest.Release, i int) murdertest.Options {
	o := murdertest.Options{Name: fmt.Sprintf("be%d", i), Release: rel, Users: twinUsers(),
		Admins: []string{"murder"}, Extra: []string{"allowusermoves: yes", "virtdomains: userid",
			"proxy_authname: murder", "proxy_password: " + murdertest.DefaultUsers["murder"]}}
	if i == 1 {
		o.Extra = append(o.Extra, "delete_mode: immediate")
	} else {
		o.Extra = append(o.Extra, "delete_mode: delayed")
	}
	return o
}

func startTwin(t *testing.T, name string, rel cyrustest.Release) *twin {
	t.Helper()
	tw := &twin{name: name, rel: rel}
	var mupdate string
	if name == "A" {
		tw.master = murdertest.StartMaster(t, murdertest.Options{Name: "master", Release: rel, Users: twinUsers()})
		mupdate = tw.master.MupdateAddr
	} else {
		dir := t.TempDir()
		cf := filepath.Join(dir, "credentials")
		if err := os.WriteFile(cf, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tw.token = filepath.Join(dir, "token")
		if err := os.WriteFile(tw.token, []byte("twin-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mupdate = fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
		tw.bridgeAddr = mupdate
		httpAddr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
		tw.api = "http://" + httpAddr
		tw.bridge = startServe(t, "--registry", "leveldb://"+filepath.Join(dir, "registry"), "--data-dir", dir,
			"--listen", mupdate, "--credentials", cf, "--admins", "murder,admin", "--servername", "master.murdertest",
			"--http", httpAddr, "--http-token-file", tw.token)
		waitGreeting(t, mupdate)
		tw.dumpTo = cyrustest.NewConfigIn(t, rel)
	}
	var servers []string
	for i := range tw.be {
		tw.be[i] = murdertest.StartBackend(t, mupdate, backendOptions(rel, i))
		servers = append(servers, tw.be[i].Servername)
	}
	tw.fe = murdertest.StartFrontend(t, mupdate, murdertest.Options{Name: "fe", Release: rel, Users: twinUsers(),
		Serverlist: servers, RetryDelay: 1, Extra: []string{"virtdomains: userid", "allowusermoves: yes"}})
	return tw
}

// logs is every instance's syslog tail, for a failure report.
func (tw *twin) logs() string {
	var b strings.Builder
	ins := []*murdertest.Instance{tw.master, tw.be[0], tw.be[1], tw.fe}
	for _, in := range ins {
		if in != nil {
			fmt.Fprintf(&b, "--- twin %s %s syslog (tail):\n%s\n", tw.name, in.Name, tail(in.Log(), 3000))
		}
	}
	if tw.bridge != nil {
		fmt.Fprintf(&b, "--- twin B murder-bridge (tail):\n%s\n", tail(tw.bridge.out.String(), 3000))
	}
	// what each MUPDATE master says now (LIST, as a backend would see it)
	for _, addr := range []string{tw.bridgeAddr, func() string {
		if tw.master != nil {
			return tw.master.MupdateAddr
		}
		return ""
	}()} {
		if addr == "" {
			continue
		}
		l, err := rawSession(addr, "admin", "adminpw", "LIST")
		if err == nil && len(l) > 0 {
			fmt.Fprintf(&b, "--- twin %s MUPDATE LIST of %s:\n%s\n", tw.name, addr, tail(strings.Join(l[0], "\n"), 4000))
		}
	}
	return b.String()
}

// runTwins runs one seed on one release and returns the number of steps
// run with zero differences (it fails the test at the first difference).
func runTwins(t *testing.T, version string, seed uint64, steps int) int {
	rel := cyrustest.ReleaseOf(t, version)
	t0 := time.Now()
	a := startTwin(t, "A", rel)
	b := startTwin(t, "B", rel)
	t.Logf("both twins of Cyrus %s started in %.1fs", version, time.Since(t0).Seconds())
	return driveTwins(t, version, seed, steps, a, b, nil)
}

// driveTwins runs the seed's steps on both twins, comparing after each;
// before(step, g), when set, runs before each step's operation (the follow
// variant's cutovers and rollback; an operation it runs on both twins
// outside the generator's choice, such as a clean-up, it records with
// g.Apply).
func driveTwins(t *testing.T, version string, seed uint64, steps int, a, b *twin, before func(step int, g *twingen.Generator)) int {
	t0 := time.Now()
	defer func() { t.Logf("steps took %.1fs", time.Since(t0).Seconds()) }()
	g := twingen.New(seed, twinGenOptions(version))
	xfers := 0
	staleSeen := map[string]bool{}
	defer func() {
		if xfers > 0 {
			t.Logf("%d XFERs moved users, on both twins' backends as the model", xfers)
		}
	}()
	for step := 1; step <= steps; step++ {
		if before != nil {
			before(step, g)
		}
		op := g.Next()
		var ra, rb []string
		both(func() { ra = a.apply(t, op) }, func() { rb = b.apply(t, op) })
		if t.Failed() {
			t.FailNow()
		}
		where := fmt.Sprintf("Cyrus %s seed=%d step=%d op=%s", version, seed, step, op)
		if d := cmp.Diff(ra, rb); d != "" {
			t.Fatalf("%s\nanswers differ, twin A (-) twin B (+):\n%s\n%s%s", where, d, a.logs(), b.logs())
		}
		t.Logf("step %d: %s -> %s", step, op, strings.Join(ra, " | "))
		ok := succeeded(ra) && (op.Kind != "xfer" || xferMoved(ra))
		g.Apply(op, ok)
		var sa, sb state
		var errA, errB error
		both(func() { sa, errA = a.settled(t) }, func() { sb, errB = b.settled(t) })
		if t.Failed() {
			t.FailNow()
		}
		if errA != nil || errB != nil {
			t.Fatalf("%s\nthe frontend never caught up with its master:\ntwin A: %v\ntwin B: %v\n%s%s", where, errA, errB, a.logs(), b.logs())
		}
		if op.Kind == "xfer" && ok {
			for _, x := range []struct {
				tw *twin
				st state
			}{{a, sa}, {b, sb}} {
				if err := xferPlaced(g.Model(), op.Mailbox, x.st); err != nil {
					t.Fatalf("%s\ntwin %s: the backends do not hold the moved user where the model does: %v\n%s", where, x.tw.name, err, x.tw.logs())
				}
			}
			xfers++
		}
		if d := cmp.Diff(sa, sb); d != "" {
			// a difference fails the run either way; looking again after
			// 10 s says whether it was a lag or stays
			time.Sleep(10 * time.Second)
			again := "it stays 10 s later"
			both(func() { sa, errA = a.settled(t) }, func() { sb, errB = b.settled(t) })
			if errA == nil && errB == nil && cmp.Diff(sa, sb) == "" {
				again = "10 s later the twins were equal again (a lag)"
			}
			t.Fatalf("%s\nfirst difference, twin A (-) twin B (+) (%s):\n%s\n%s%s", where, again, d, a.logs(), b.logs())
		}
		// entries the master places on a backend that does not hold them:
		// Cyrus's own inconsistency (the states are equal, so twin B has
		// the same), reported as such, never as a difference
		for _, m := range masterOnly(sa) {
			if !staleSeen[m] {
				staleSeen[m] = true
				t.Logf("step %d: Cyrus inconsistency on both twins alike: %s (docs/twins.md)", step, m)
			}
		}
	}
	if len(staleSeen) > 0 {
		t.Logf("%d master-only entries seen (Cyrus's, on both twins alike)", len(staleSeen))
	}
	// The comparison can fail: one CREATE on twin B alone must show in
	// its master, backend and frontend dumps and in the admin's LIST.
	if _, err := imapEach(b.be[0].IMAPAddr, "admin", murdertest.DefaultUsers["admin"], []string{`CREATE "user.canary"`}); err != nil {
		t.Fatal(err)
	}
	sa, _ := a.settled(t)
	sb, err := b.settled(t)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MURDERKIT_TWIN_SHOW") != "" {
		j, _ := json.MarshalIndent(sa, "", " ")
		t.Logf("twin A's state after the last step:\n%s", j)
	}
	d := cmp.Diff(sa, sb)
	for _, want := range []string{`"master"`, `"be0"`, `"fe"`, `"user.canary"`} {
		if !strings.Contains(d, want) {
			t.Errorf("a CREATE on twin B alone: the comparison does not show %s:\n%s", want, d)
		}
	}
	if !regexp.MustCompile(`(?m)^\+.*\* LIST .*user\.canary`).MatchString(d) {
		t.Errorf("a CREATE on twin B alone: the comparison does not show it in the admin's LIST:\n%s", d)
	}
	// and the check before a cutover sees a master-only entry
	staleCanary(t, b)
	return steps
}

// both runs f and g side by side (one per twin) and waits for both; a
// t.Fatal in either ends only its goroutine, the caller checks t.Failed.
func both(f, g func()) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f() }()
	go func() { defer wg.Done(); g() }()
	wg.Wait()
}

// twinGenOptions leaves out what a release cannot do (docs/twins.md).
// Every operation, virtual domains included (`virtdomains: userid`), runs
// on 3.2.6, 3.6.1, 3.10.2 and 3.12.4 alike, so none is left out today; a
// release that needs one left out says so here, with the reason in
// docs/twins.md.
func twinGenOptions(version string) twingen.Options {
	_ = version
	return twingen.Options{}
}

// apply runs op on the twin and returns, per command, its normalised
// untagged lines and tagged answer ("OK ...", "NO ..."), or for a tool its
// exit status and output.
func (tw *twin) apply(t *testing.T, op twingen.Op) []string {
	t.Helper()
	switch op.Target {
	case twingen.Repush:
		r := tw.be[op.Backend].Run(t, nil, "ctl_mboxlist", "-m")
		return []string{fmt.Sprintf("exit %d", r.ExitCode), tw.norm(string(r.Stdout))}
	case twingen.Restart:
		tw.be[op.Backend].Restart(t)
		return []string{"OK restarted"}
	}
	addr := tw.fe.IMAPAddr
	if op.Target == twingen.Backend {
		addr = tw.be[op.Backend].IMAPAddr
	}
	cmds := make([]string, len(op.Commands))
	for i, c := range op.Commands {
		for j, b := range tw.be {
			c = strings.ReplaceAll(c, fmt.Sprintf("{be%d}", j), b.Servername)
		}
		cmds[i] = c
	}
	pw := murdertest.DefaultUsers["admin"]
	if op.User != "admin" {
		pw = twingen.Password(op.User)
	}
	res, err := imapEach(addr, op.User, pw, cmds)
	if err != nil {
		t.Fatalf("twin %s: %s: %v\n%s", tw.name, op, err, tw.logs())
	}
	// every untagged line counts: XFER answers "* NO USER x (...)" and
	// then a tagged OK
	var out []string
	for _, r := range res {
		for _, l := range r.untagged {
			out = append(out, tw.norm(l))
		}
		out = append(out, tw.norm(r.status))
	}
	return out
}

// succeeded reports whether the operation's last command succeeded: a
// tagged OK with no untagged NO just before it.
func succeeded(answers []string) bool {
	if len(answers) == 0 || !strings.HasPrefix(answers[len(answers)-1], "OK") {
		return false
	}
	return len(answers) < 2 || !strings.HasPrefix(answers[len(answers)-2], "* NO")
}

// xferMoved reports whether an XFER's answers say a user was moved:
// Cyrus prints "* OK USER u" for each user it moved. Cyrus 3.2.6 answers
// the XFER of a virtual-domain user with a bare tagged OK and moves nothing
// (its cmd_xfer finds no mailbox for the domain name; docs/twins.md), on
// both twins alike, so the model must not move the user then.
func xferMoved(answers []string) bool {
	for _, a := range answers {
		if strings.HasPrefix(a, "* OK USER ") {
			return true
		}
	}
	return false
}

// imapResult is one command's untagged lines and tagged status (without
// the tag).
type imapResult struct {
	untagged []string
	status   string
}

// imapEach logs in and runs every command, also after a NO, one at a time.
func imapEach(addr, user, pw string, cmds []string) ([]imapResult, error) {
	return imapThen(addr, user, pw, cmds, nil)
}

// imapThen is imapEach, then in the same session the commands then
// returns for the first results (nil: none).
func imapThen(addr, user, pw string, cmds []string, then func([]imapResult) []string) ([]imapResult, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Minute))
	r := bufio.NewReader(c)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		return nil, fmt.Errorf("imap greeting %q: %v", l, err)
	}
	run := func(tag, cmd string) (imapResult, error) {
		var res imapResult
		if _, err := fmt.Fprintf(c, "%s %s\r\n", tag, cmd); err != nil {
			return res, err
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return res, fmt.Errorf("%s %s: %w", tag, cmd, err)
			}
			l = strings.TrimRight(l, "\r\n")
			// a literal: read it and the rest of the line
			for strings.HasSuffix(l, "}") {
				i := strings.LastIndexByte(l, '{')
				if i < 0 {
					break
				}
				n, err := strconv.Atoi(strings.TrimSuffix(l[i+1:len(l)-1], "+"))
				if err != nil {
					break
				}
				buf := make([]byte, n)
				if _, err := io.ReadFull(r, buf); err != nil {
					return res, err
				}
				rest, err := r.ReadString('\n')
				if err != nil {
					return res, err
				}
				l = l[:i] + strconv.Quote(string(buf)) + strings.TrimRight(rest, "\r\n")
			}
			if strings.HasPrefix(l, tag+" ") {
				res.status = strings.TrimPrefix(l, tag+" ")
				return res, nil
			}
			res.untagged = append(res.untagged, l)
		}
	}
	if res, err := run("L0", "LOGIN "+strconv.Quote(user)+" "+strconv.Quote(pw)); err != nil || !strings.HasPrefix(res.status, "OK") {
		return nil, fmt.Errorf("LOGIN %s on %s: %q %v", user, addr, res.status, err)
	}
	var out []imapResult
	for round := 0; round < 2; round++ {
		for i, cmd := range cmds {
			res, err := run(fmt.Sprintf("C%d.%d", round, i), cmd)
			if err != nil {
				return out, err
			}
			out = append(out, res)
		}
		if then == nil || round == 1 {
			break
		}
		cmds = then(out)
	}
	run("L1", "LOGOUT")
	return out, nil
}

var (
	// Cyrus appends the time a command took to some answers
	reTiming = regexp.MustCompile(` \(\d+\.\d+ secs?[^)]*\)`)
	// a delayed delete's name ends in the hex time of the delete
	reDeletedHex = regexp.MustCompile(`(DELETED\.[^"\s]*)\.[0-9A-F]{8,16}`)
	// the same, for names with a space: quoted in IMAP, a whole name in
	// a dump (its key and its "name" member)
	reDeletedQuoted = regexp.MustCompile(`"([^"]*DELETED\.[^"]*)\.[0-9A-F]{8,16}"`)
	reDeletedName   = regexp.MustCompile(`^(.*DELETED\..*)\.[0-9A-F]{8,16}$`)
	reUIDValid      = regexp.MustCompile(`UIDVALIDITY \d+`)
	reModseq        = regexp.MustCompile(`HIGHESTMODSEQ \d+`)
	reMailboxID     = regexp.MustCompile(`MAILBOXID \([^)]*\)`)
)

// norm replaces what must differ between the twins in a line of text: the
// backends' servernames (their loopback ports), Cyrus's timings, the hex
// time of a delayed delete, UIDVALIDITY, HIGHESTMODSEQ and MAILBOXID.
func (tw *twin) norm(s string) string {
	for j, b := range tw.be {
		s = strings.ReplaceAll(s, b.Servername, fmt.Sprintf("{be%d}", j))
	}
	s = reTiming.ReplaceAllString(s, "")
	s = reDeletedQuoted.ReplaceAllString(s, `"$1.{hex}"`)
	s = reDeletedHex.ReplaceAllString(s, "$1.{hex}")
	s = reUIDValid.ReplaceAllString(s, "UIDVALIDITY {n}")
	s = reModseq.ReplaceAllString(s, "HIGHESTMODSEQ {n}")
	s = reMailboxID.ReplaceAllString(s, "MAILBOXID ({id})")
	return s
}

// state is everything compared between the twins after a step.
type state struct {
	Dumps map[string]map[string]dumpEntry // "master", "be0", "be1", "fe"
	Users map[string]userView
}

type userView struct {
	List, Lsub, SpecialUse []string
	Select                 map[string][]string
}

// settled waits until the frontend's mailboxes.db holds what the master
// holds (the MUPDATE stream reached it), then returns the twin's state.
func (tw *twin) settled(t *testing.T) (state, error) {
	t.Helper()
	var st state
	err := murdertest.Eventually(30*time.Second, func() error {
		st = state{Dumps: map[string]map[string]dumpEntry{
			"master": tw.masterDump(t),
			"fe":     tw.dump(t, tw.fe),
		}}
		if d := cmp.Diff(mupdateView(st.Dumps["master"]), mupdateView(st.Dumps["fe"])); d != "" {
			return fmt.Errorf("master (-) vs frontend (+):\n%s", d)
		}
		switch {
		case tw.follow:
			// the follower has taken the master's last change
			st.Dumps["registry"] = tw.registryDump(t)
			if d := cmp.Diff(mupdateView(st.Dumps["master"]), mupdateView(st.Dumps["registry"])); d != "" {
				return fmt.Errorf("master (-) vs the registry following it (+):\n%s", d)
			}
		case tw.registryTwin:
			st.Dumps["registry"] = st.Dumps["master"]
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	for i, b := range tw.be {
		st.Dumps[fmt.Sprintf("be%d", i)] = tw.dump(t, b)
	}
	st.Users = map[string]userView{}
	for _, u := range append([]string{"admin"}, (twingen.Options{}).Pool()...) {
		st.Users[u] = tw.view(t, u)
	}
	return st, nil
}

// mupdateView is what MUPDATE carries of a dump: name, location, ACL (for
// 3.2, whose dump is a line per mailbox, the whole line: without it 3.2
// settled on names alone and a frontend still behind its master after an
// XFER showed as a difference).
func mupdateView(d map[string]dumpEntry) map[string]string {
	out := map[string]string{}
	for n, e := range d {
		if l := e.get("line"); l != "(absent)" {
			// 3.2's "mbtype server!partition acl" line: all of it
			out[n] = l
			continue
		}
		out[n] = e.get("server") + "!" + e.get("partition") + " " + e.get("acl")
	}
	return out
}

// view is user u's LIST, LSUB, LIST RETURN (SPECIAL-USE) and SELECT of
// every listed mailbox, through the frontend.
func (tw *twin) view(t *testing.T, u string) userView {
	t.Helper()
	pw := murdertest.DefaultUsers["admin"]
	if u != "admin" {
		pw = twingen.Password(u)
	}
	var names []string
	res, err := imapThen(tw.fe.IMAPAddr, u, pw, []string{`LIST "" "*"`, `LSUB "" "*"`, `LIST "" "*" RETURN (SPECIAL-USE)`},
		func(r []imapResult) []string {
			var cmds []string
			for _, l := range r[0].untagged {
				if name, ok := listName(l); ok {
					names = append(names, name)
					cmds = append(cmds, "SELECT "+strconv.Quote(name))
				}
			}
			return cmds
		})
	if err != nil {
		t.Fatalf("twin %s: %s's LIST and SELECTs through the frontend: %v\n%s", tw.name, u, err, tw.logs())
	}
	v := userView{Select: map[string][]string{}}
	lines := func(r imapResult) []string {
		out := []string{tw.norm(r.status)}
		for _, l := range r.untagged {
			out = append(out, tw.norm(l))
		}
		sort.Strings(out[1:])
		return out
	}
	v.List, v.Lsub, v.SpecialUse = lines(res[0]), lines(res[1]), lines(res[2])
	sel := res[3:]
	for i, r := range sel {
		v.Select[tw.norm(names[i])] = lines(r)
	}
	return v
}

// listName is the mailbox name of a `* LIST (...) "." name` line.
func listName(l string) (string, bool) {
	if !strings.HasPrefix(l, "* LIST ") {
		return "", false
	}
	i := strings.Index(l, `) `)
	if i < 0 {
		return "", false
	}
	rest := l[i+2:]
	// the delimiter: "." or NIL
	if strings.HasPrefix(rest, `"."`) || strings.HasPrefix(rest, `"/"`) {
		rest = rest[4:]
	} else if strings.HasPrefix(rest, "NIL ") {
		rest = rest[4:]
	}
	if strings.HasPrefix(rest, `"`) {
		s, err := strconv.Unquote(rest)
		if err != nil {
			return "", false
		}
		return s, true
	}
	return rest, true
}

// dumpEntry is one entry of `ctl_mboxlist -d` with its members in the
// order Cyrus printed them; the ACL is kept as one string in its order.
type dumpEntry []field

type field struct{ Key, Value string }

func (e dumpEntry) get(k string) string {
	for _, f := range e {
		if f.Key == k {
			return f.Value
		}
	}
	return "(absent)"
}

// dump is the instance's mailboxes.db as its Cyrus prints it, normalised.
func (tw *twin) dump(t *testing.T, in *murdertest.Instance) map[string]dumpEntry {
	t.Helper()
	r := in.Run(t, nil, "ctl_mboxlist", "-d")
	if r.ExitCode != 0 {
		t.Fatalf("twin %s %s: ctl_mboxlist -d: exit %d\n%s%s", tw.name, in.Name, r.ExitCode, r.Stdout, r.Stderr)
	}
	d, err := parseCyrusDump(r.Stdout)
	if err != nil {
		t.Fatalf("twin %s %s: %v", tw.name, in.Name, err)
	}
	return tw.normDump(d)
}

// masterDump is twin A's master's mailboxes.db, or twin B's registry
// exported by mboxconv as a mailboxes.db of the release and printed by
// that release's ctl_mboxlist -d.
func (tw *twin) masterDump(t *testing.T) map[string]dumpEntry {
	t.Helper()
	if tw.master != nil {
		return tw.dump(t, tw.master)
	}
	return tw.registryDump(t)
}

// registryDump is twin B's registry exported by mboxconv (through the
// bridge's HTTP API) as a mailboxes.db of the release, printed by that
// release's ctl_mboxlist -d.
func (tw *twin) registryDump(t *testing.T) map[string]dumpEntry {
	t.Helper()
	db := tw.dumpTo.MailboxesDB()
	code, out := runBin(t, time.Minute, mboxconvBinary(t), "export", "--bridge", tw.api, "--token-file", tw.token,
		db, "--to", "twoskip", "--cyrus-version", tw.rel.Version)
	if code != 0 {
		t.Fatalf("twin B: mboxconv export of the registry: exit %d\n%s", code, out)
	}
	if err := tw.dumpTo.Chown(db); err != nil {
		t.Fatal(err)
	}
	r := tw.dumpTo.Run(t, "ctl_mboxlist", "-d")
	if r.ExitCode != 0 {
		t.Fatalf("twin B: ctl_mboxlist -d of the registry's export: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	d, err := parseCyrusDump(r.Stdout)
	if err != nil {
		t.Fatalf("twin B: registry export: %v", err)
	}
	return tw.normDump(d)
}

// parseCyrusDump reads `ctl_mboxlist -d`: the JSON object of 3.6 and
// later (members kept in order), or the dump lines of 3.2 and before
// ("name<TAB>mbtype location acl", kept as they are).
func parseCyrusDump(b []byte) (map[string]dumpEntry, error) {
	out := map[string]dumpEntry{}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		for _, l := range strings.Split(string(b), "\n") {
			if l == "" {
				continue
			}
			name, rest, ok := strings.Cut(l, "\t")
			if !ok {
				return nil, fmt.Errorf("ctl_mboxlist -d line %q: no tab", l)
			}
			out[name] = dumpEntry{{"line", rest}}
		}
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok := func() (json.Token, error) { return dec.Token() }
	if _, err := tok(); err != nil { // {
		return nil, fmt.Errorf("ctl_mboxlist -d: %w", err)
	}
	for dec.More() {
		k, err := tok()
		if err != nil {
			return nil, fmt.Errorf("ctl_mboxlist -d: %w", err)
		}
		name := k.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("ctl_mboxlist -d %s: %w", name, err)
		}
		e, err := orderedMembers(raw)
		if err != nil {
			return nil, fmt.Errorf("ctl_mboxlist -d %s: %w", name, err)
		}
		out[name] = e
	}
	return out, nil
}

// orderedMembers flattens one JSON object into its members in order, each
// value rendered by renderJSON: the "acl" object as "id=rights id=rights"
// in its order, name_history as its entries with their members in order.
func orderedMembers(raw []byte) (dumpEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var e dumpEntry
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := renderJSON(dec, "")
		if err != nil {
			return nil, err
		}
		e = append(e, field{k.(string), v})
	}
	return e, nil
}

// renderJSON renders the next JSON value of dec as text, objects with
// their members in order; the times a member holds (mtime, uidvalidity)
// inside a nested object (name_history) become "{time}". key is the
// member the value belongs to.
func renderJSON(dec *json.Decoder, key string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return fmt.Sprint(tok), nil
	}
	var parts []string
	for dec.More() {
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			v, err := renderJSON(dec, k.(string))
			if err != nil {
				return "", err
			}
			if key != "acl" && (k == "mtime" || k == "uidvalidity") {
				v = "{time}"
			}
			parts = append(parts, fmt.Sprintf("%v=%v", k, v))
			continue
		}
		v, err := renderJSON(dec, key)
		if err != nil {
			return "", err
		}
		parts = append(parts, v)
	}
	if _, err := dec.Token(); err != nil {
		return "", err
	}
	if key == "acl" {
		return strings.Join(parts, " "), nil
	}
	if d == '{' {
		return "{" + strings.Join(parts, " ") + "}", nil
	}
	return "[" + strings.Join(parts, ", ") + "]", nil
}

// normDump replaces, in a dump, what must differ between the twins
// (docs/twins.md): servernames (ports), mtime and uidvalidity (times),
// the hex time in DELETED.* names (numbered in their order instead), and
// uniqueids (numbered by first appearance in name order, so that entries
// sharing one still share one).
func (tw *twin) normDump(d map[string]dumpEntry) map[string]dumpEntry {
	// DELETED.<name>.<hex>: number the deletes of one name in time order
	byPrefix := map[string][]string{}
	for n := range d {
		if reDeletedName.MatchString(n) {
			i := strings.LastIndexByte(n, '.')
			byPrefix[n[:i]] = append(byPrefix[n[:i]], n)
		}
	}
	rename := map[string]string{}
	for p, ns := range byPrefix {
		sort.Strings(ns) // same length hex: string order is time order
		for i, n := range ns {
			rename[n] = fmt.Sprintf("%s.{hex#%d}", p, i+1)
		}
	}
	names := make([]string, 0, len(d))
	for n := range d {
		names = append(names, n)
	}
	sort.Strings(names)
	ids := map[string]string{}
	out := map[string]dumpEntry{}
	for _, n := range names {
		var e dumpEntry
		for _, f := range d[n] {
			switch f.Key {
			case "mtime", "uidvalidity":
				f.Value = "{time}"
			case "name":
				f.Value = tw.norm(reDeletedName.ReplaceAllString(f.Value, "$1.{hex}"))
			case "uniqueid":
				if _, ok := ids[f.Value]; !ok {
					ids[f.Value] = fmt.Sprintf("{uid#%d}", len(ids)+1)
				}
				f.Value = ids[f.Value]
			default:
				f.Value = tw.norm(f.Value)
			}
			e = append(e, f)
		}
		nn := n
		if r, ok := rename[n]; ok {
			nn = r
		}
		out[tw.norm(nn)] = e
	}
	return out
}

// xferPlaced checks one twin after an XFER of user (its INBOX's internal
// name) that answered OK: each of the user's mailboxes the model knows is
// live in the mailboxes.db of the backend the model puts it on, and the
// other backend has it no longer (or only as a tombstone).
func xferPlaced(m *twingen.Model, user string, st state) error {
	var n int
	for name, box := range m.Boxes {
		if name != user && !strings.HasPrefix(name, user+".") {
			continue
		}
		n++
		to, from := st.Dumps[fmt.Sprintf("be%d", box.Backend)], st.Dumps[fmt.Sprintf("be%d", 1-box.Backend)]
		if e, ok := to[name]; !ok || tombstone(e) {
			return fmt.Errorf("%s is not live on be%d (the model's backend): %v", name, box.Backend, e)
		}
		if e, ok := from[name]; ok && !tombstone(e) {
			return fmt.Errorf("%s is still live on be%d: %v", name, 1-box.Backend, e)
		}
	}
	if n == 0 {
		return fmt.Errorf("the model has no mailbox of %s", user)
	}
	return nil
}

// tombstone reports whether a backend's dump entry is a deleted
// mailbox's tombstone: mbtype with "d" in the JSON dump of 3.6 and later,
// the MBTYPE_DELETED bit (16) of the numeric mbtype that starts 3.2's
// "mbtype partition acl" line.
func tombstone(e dumpEntry) bool {
	if l := e.get("line"); l != "(absent)" {
		f, _, _ := strings.Cut(l, " ")
		n, err := strconv.Atoi(f)
		return err == nil && n&16 != 0
	}
	return strings.Contains(e.get("mbtype"), "d")
}
