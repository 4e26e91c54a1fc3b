package interop

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// runBin runs a binary with a time limit and returns its exit status and
// combined output.
func runBin(t *testing.T, limit time.Duration, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return exitCode(err), out.String()
}

// rehearsalUsers is the number of users of the rehearsal (half on each
// backend): MURDERKIT_REHEARSAL_USERS, default 200.
func rehearsalUsers(t *testing.T) int {
	n := 200
	if v := os.Getenv("MURDERKIT_REHEARSAL_USERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 4 {
			t.Fatalf("MURDERKIT_REHEARSAL_USERS=%q: want a number >= 4", v)
		}
	}
	return n
}

// rehearsalSeed is what a backend holds before it joins the murder: users
// u<first>..u<first+n-1> with INBOX, Sent and Archive (shared with the next
// user), and shared folders shared.<tag>.* with group and anyone ACLs.
func rehearsalSeed(tag string, first, n int) []murdertest.Step {
	var s []murdertest.Step
	for i := first; i < first+n; i++ {
		u := fmt.Sprintf("user.u%03d", i)
		s = append(s,
			murdertest.Step{Op: "CREATE", Args: []string{u}},
			murdertest.Step{Op: "CREATE", Args: []string{u + ".Sent"}},
			murdertest.Step{Op: "CREATE", Args: []string{u + ".Archive"}},
			murdertest.Step{Op: "SETACL", Args: []string{u + ".Archive", fmt.Sprintf("u%03d", i+1), "lr"}})
	}
	for _, f := range []string{"", ".team", ".team.docs", ".public"} {
		s = append(s, murdertest.Step{Op: "CREATE", Args: []string{"shared." + tag + f}})
	}
	s = append(s,
		murdertest.Step{Op: "SETACL", Args: []string{"shared." + tag + ".team", "group:staff", "lrswipkxtecda"}},
		murdertest.Step{Op: "SETACL", Args: []string{"shared." + tag + ".team.docs", "group:staff", "lrs"}},
		murdertest.Step{Op: "SETACL", Args: []string{"shared." + tag + ".public", "anyone", "lrs"}},
		murdertest.Step{Op: "SETACL", Args: []string{"shared." + tag + ".team", fmt.Sprintf("u%03d", first), "lrswipkxtecda"}})
	return s
}

// rehearsalChanges are real changes through one backend while slot 1 is cut over:
// create, rename with subfolders, setacl, delete (3.6's delayed delete).
func rehearsalChanges(tag string, u int) []murdertest.Step {
	me := fmt.Sprintf("u%03d", u)
	return []murdertest.Step{
		{User: me, Op: "CREATE", Args: []string{"INBOX.Proj"}},
		{User: me, Op: "CREATE", Args: []string{"INBOX.Proj.a"}},
		{User: me, Op: "CREATE", Args: []string{"INBOX.Proj.b"}},
		{User: me, Op: "CREATE", Args: []string{"INBOX.Proj.b.c"}},
		{User: me, Op: "RENAME", Args: []string{"INBOX.Proj", "INBOX.Done"}},
		{User: me, Op: "SETACL", Args: []string{"INBOX.Done", fmt.Sprintf("u%03d", u+2), "lr"}},
		{User: me, Op: "SETACL", Args: []string{"INBOX.Archive", fmt.Sprintf("u%03d", u+1), "lrs"}},
		{User: me, Op: "DELETE", Args: []string{"INBOX.Sent"}},
		{Op: "CREATE", Args: []string{"shared." + tag + ".new"}},
		{Op: "SETACL", Args: []string{"shared." + tag + ".new", "group:staff", "lrs"}},
		{Op: "SETACL", Args: []string{"shared." + tag + ".new", "anyone", "lr"}},
		{Op: "SETACL", Args: []string{"shared." + tag + ".public", "admin", "lrswipkxtecda"}},
		{Op: "DELETE", Args: []string{"shared." + tag + ".public"}},
	}
}

// The rehearsal of docs/runbook.md (import to rollback), on a real Cyrus murder (Debian's 3.6.1): one
// master, two backends (two slots), an old frontend on the master, with a
// few hundred users, shared folders and group ACLs. import (mboxconv) →
// follow (murder-bridge serve --follow) → shadow, clean (recorded on slot
// s1) → slot cutover s1 (backend 1 now talks to the bridge) → real changes
// on both backends → shadow old frontend vs registry and vs a new
// frontend fed by the bridge, clean → SIGKILL and restart of the bridge →
// slot rollback s1 (backend 1 back to the master) → `mboxconv verify` of
// the old master's mailboxes.db against the registry, and every change
// made while cut over is in the master. Each step's time is logged.
// Operators run it with `make rehearsal` (scripts/rehearsal.sh).
func TestRehearsal(t *testing.T) {
	nUsers := rehearsalUsers(t)
	half := nUsers / 2
	var timings []string
	t0 := time.Now()
	step := func(name string, fn func()) {
		t.Helper()
		s := time.Now()
		fn()
		line := fmt.Sprintf("%-58s %8.2fs", name, time.Since(s).Seconds())
		timings = append(timings, line)
		t.Logf("step: %s", line)
	}
	defer func() {
		t.Logf("rehearsal with %d users, step timings:\n%s\n%-58s %8.2fs", nUsers, strings.Join(timings, "\n"),
			"total", time.Since(t0).Seconds())
	}()

	users := map[string]string{}
	var usersFile strings.Builder
	for i := 1; i <= nUsers+2; i++ {
		u := fmt.Sprintf("u%03d", i)
		users[u] = u + "pw"
		if i <= nUsers {
			fmt.Fprintf(&usersFile, "%s:%s\n", u, users[u])
		}
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	usersPath := write("users", usersFile.String())
	credPath := write("credentials", "murder:murderpw\nadmin:adminpw\n")
	pwPath := write("murderpw", "murderpw\n")
	tokenPath := write("token", "rehearsal-token\n")
	mb, mc := murderBridgeBinary(t), mboxconvBinary(t)

	var master, be1, be2, oldFE *murdertest.Instance
	step(fmt.Sprintf("build the murder: master, 2 backends, frontend, %d users", nUsers), func() {
		master = murdertest.StartMaster(t, murdertest.Options{})
		var wg sync.WaitGroup
		for i, p := range []**murdertest.Instance{&be1, &be2} {
			*p = murdertest.StartBackend(t, "", murdertest.Options{Name: fmt.Sprintf("be%d", i+1), Standalone: true, Users: users})
			wg.Add(1)
			go func() {
				defer wg.Done()
				(*p).RunSteps(t, rehearsalSeed(fmt.Sprintf("b%d", i+1), 1+i*half, half))
			}()
		}
		wg.Wait()
		for _, b := range []*murdertest.Instance{be1, be2} {
			b.Join(t, master.MupdateAddr)
			b.CtlMboxlist(t, "-m")
		}
		oldFE = murdertest.StartFrontend(t, master.MupdateAddr, murdertest.Options{Name: "oldfe", Users: users,
			Serverlist: []string{be1.Servername, be2.Servername}})
	})
	masterDB := filepath.Join(master.ConfigDir, "mailboxes.db")
	regDir := filepath.Join(dir, "registry")
	reg := "leveldb://" + regDir

	step("import the master's mailboxes.db (mboxconv import)", func() {
		if code, out := runBin(t, 2*time.Minute, mc, "import", masterDB, "--registry", reg); code != 0 {
			t.Fatalf("mboxconv import: exit %d\n%s", code, out)
		}
	})

	listen := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	api := "http://" + httpAddr
	serveArgs := []string{"--registry", reg, "--data-dir", dir, "--listen", listen, "--credentials", credPath,
		"--admins", "murder,admin", "--follow", master.MupdateAddr, "--follow-user", "murder",
		"--follow-password-file", pwPath, "--follow-mech", "PLAIN", "--http", httpAddr, "--http-token-file", tokenPath}
	var p *bridgeProc
	ready := func(within time.Duration) {
		t.Helper()
		waitGreeting(t, listen)
		if err := murdertest.Eventually(within, func() error {
			code, body, err := httpGet(api + "/readyz")
			if err != nil || code != 200 {
				return fmt.Errorf("/readyz %d %s %v", code, body, err)
			}
			return nil
		}); err != nil {
			t.Fatalf("bridge never ready: %v\n%s", err, p.out.String())
		}
	}
	step("follow the master (murder-bridge serve --follow) until ready", func() {
		p = startServe(t, serveArgs...)
		ready(30 * time.Second)
	})
	slot := func(args ...string) (int, string) {
		return runBin(t, time.Minute, mb, append(append([]string{"slot"}, args...), "--bridge", api, "--token-file", tokenPath)...)
	}
	step("define slots s1 (backend 1) and s2 (backend 2)", func() {
		for i, b := range []*murdertest.Instance{be1, be2} {
			if code, out := slot("define", fmt.Sprintf("s%d", i+1), "--location", b.Servername, "--state", "mirrored"); code != 0 {
				t.Fatalf("slot define: exit %d\n%s", code, out)
			}
		}
		// not yet shadow-clean: cutover is refused with the reason
		if code, out := slot("cutover", "s1"); code != 10 || !strings.Contains(out, "was not clean") {
			t.Fatalf("cutover before a clean shadow run: exit %d\n%s", code, out)
		}
	})
	// followerCaughtUp: the bridge, following the old master, has taken its
	// last batch: their MUPDATE LISTs are the same
	followerCaughtUp := func() error {
		fromMaster, err := rawSession(master.MupdateAddr, "murder", "murderpw", "LIST")
		if err != nil {
			return err
		}
		fromBridge, err := rawSession(listen, "murder", "murderpw", "LIST")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(fromMaster, fromBridge); diff != "" {
			return fmt.Errorf("MUPDATE LIST of the old master (-) and of the bridge following it (+):\n%s", diff)
		}
		return nil
	}
	shadow := func(name string, within time.Duration, args ...string) {
		t.Helper()
		var code int
		var out string
		murdertest.Eventually(within, func() error {
			code, out = runBin(t, 3*time.Minute, mb, append([]string{"shadow", "--old", "imap://" + oldFE.IMAPAddr,
				"--users", usersPath, "--concurrency", "4", "--rate", "0", "--progress", "none"}, args...)...)
			if code != 0 {
				return fmt.Errorf("exit %d", code)
			}
			return nil
		})
		if code != 0 {
			t.Fatalf("shadow %s: exit %d\n%s", name, code, tail(out, 4000))
		}
		t.Logf("shadow %s: %s", name, strings.TrimSpace(tail(out, 300)))
	}
	step("shadow old frontend vs registry (clean, recorded on s1)", func() {
		shadow("old frontend vs registry", 30*time.Second, "--registry", api, "--slot", "s1", "--token-file", tokenPath)
	})
	step("history while following: renames of trees, delayed deletes, a parent with children", func() {
		// what every real murder holds: the master stores each RENAME
		// target and DELETED.* name a backend pushes with an empty
		// partition ("host!"); the backends keep tombstones sharing the
		// live mailbox's uniqueid
		for i, b := range []*murdertest.Instance{be1, be2} {
			b.RunSteps(t, rehearsalHistory(1+i*half+1))
		}
		// the follower takes the master's next batch before the cutover
		eventually.Nil(t, 60*time.Second, followerCaughtUp)
	})
	step("slot cutover s1; backend 1 sends MUPDATE to the bridge", func() {
		if code, out := slot("cutover", "s1", "--note", "rehearsal"); code != 0 {
			t.Fatalf("slot cutover: exit %d\n%s", code, out)
		}
		be1.Join(t, listen)
		// the follow Guard caches the slots for 5 s and says nowhere when it
		// read them last: only the passing time tells
		time.Sleep(6 * time.Second)
	})
	step("real changes on both backends (create, rename tree, setacl, delete)", func() {
		be1.RunSteps(t, rehearsalChanges("b1", 1))
		be2.RunSteps(t, rehearsalChanges("b2", half+1))
	})
	var newFE *murdertest.Instance
	step("shadow old frontend vs registry and vs a new frontend on the bridge", func() {
		newFE = murdertest.StartFrontend(t, listen, murdertest.Options{Name: "newfe", Users: users,
			Serverlist: []string{be1.Servername, be2.Servername}})
		shadow("old frontend vs registry", 40*time.Second, "--registry", api, "--token-file", tokenPath)
		shadow("old frontend vs new frontend", 40*time.Second, "--new", "imap://"+newFE.IMAPAddr)
	})
	step("SIGKILL the bridge and restart it", func() {
		p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
		p = startServe(t, serveArgs...)
		ready(30 * time.Second)
		// backend 1 still writes through the restarted bridge
		be1.RunSteps(t, []murdertest.Step{{User: "u001", Op: "CREATE", Args: []string{"INBOX.AfterRestart"}}})
	})
	step("slot rollback s1; backend 1 back on the master", func() {
		if code, out := slot("rollback", "s1", "--note", "rehearsal"); code != 0 {
			t.Fatalf("slot rollback: exit %d\n%s", code, out)
		}
		be1.Join(t, master.MupdateAddr)
		code, out := slot("list", "--json")
		if code != 0 || !strings.Contains(out, `"State": "mirrored"`) {
			t.Fatalf("slot list: exit %d\n%s", code, out)
		}
	})
	step("old master's mailboxes.db equals the registry (mboxconv verify)", func() {
		// let the follower take the master's last batch, then stop it
		eventually.Nil(t, 60*time.Second, followerCaughtUp)
		// the bridge, as a master, says what the old master says, byte
		// for byte: "host!" locations of renamed trees and DELETED.* too
		fromMaster, err := rawSession(master.MupdateAddr, "murder", "murderpw", "LIST")
		if err != nil {
			t.Fatal(err)
		}
		fromBridge, err := rawSession(listen, "murder", "murderpw", "LIST")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fromMaster, fromBridge); diff != "" {
			t.Errorf("MUPDATE LIST of the old master (-) and of the bridge following it (+):\n%s", diff)
		}
		if j := strings.Join(fromBridge[0], "\n"); !strings.Contains(j, "! {") && !strings.Contains(j, `!" `) {
			t.Errorf("the bridge's LIST has no \"host!\" location:\n%s", strings.Join(fromBridge[0], "\n"))
		}
		if st := p.term(t); st != 0 {
			t.Fatalf("SIGTERM: exit %d\n%s", st, p.out.String())
		}
		code, out := runBin(t, 2*time.Minute, mc, "verify", masterDB, reg)
		if code != 0 {
			t.Fatalf("mboxconv verify master registry: exit %d\n%s", code, tail(out, 4000))
		}
		dump := master.Dump(t)
		for _, n := range []string{"user.u001.Done", "user.u001.Done.a", "user.u001.Done.b.c", "shared.b1.new", "user.u001.AfterRestart",
			fmt.Sprintf("user.u%03d.Done.b.c", half+1), "shared.b2.new"} {
			if _, ok := dump[n]; !ok {
				t.Errorf("the old master lacks %s, made while s1 was cut over", n)
			}
		}
		for _, n := range []string{"user.u001.Proj", "user.u001.Sent", "shared.b1.public", "user.u001.Proj.b.c"} {
			if _, ok := dump[n]; ok {
				t.Errorf("the old master still has %s, removed while s1 was cut over", n)
			}
		}
		if e := dump["user.u001.Done"]; e.ACL["u003"] != "lr" {
			t.Errorf("the old master's ACL of user.u001.Done = %v, want u003 lr", e.ACL)
		}
		if e := dump["shared.b1.new"]; e.ACL["group:staff"] != "lrs" {
			t.Errorf("the old master's ACL of shared.b1.new = %v, want group:staff lrs", e.ACL)
		}
		t.Logf("mboxconv verify: %s", strings.TrimSpace(tail(out, 300)))
	})
	step("rollback script: rebuild the master's mailboxes.db, start Cyrus on it", func() {
		before := master.Dump(t)
		outDir := filepath.Join(dir, "rollback")
		cmd := exec.Command("sh", "../scripts/rollback-slot.sh", "s1", reg, outDir, be1.Servername)
		cmd.Env = append(os.Environ(), "MBOXCONV="+mc)
		outb, err := cmd.CombinedOutput()
		out := string(outb)
		if err != nil {
			t.Fatalf("scripts/rollback-slot.sh: %v\n%s", err, out)
		}
		iw, im := strings.Index(out, "ctl_mboxlist -m -w"), strings.Index(out, "ctl_mboxlist -m\n")
		if iw < 0 || im < 0 || iw > im || !strings.Contains(out, "ctl_cyrusdb -r") || !strings.Contains(out, "ctl_mboxlist -u -L") {
			t.Errorf("the script's commands are not the expected ones, safest first:\n%s", out)
		}
		// the master's MUPDATE LIST before the rollback, byte for byte
		listBefore, err := rawSession(master.MupdateAddr, "murder", "murderpw", "LIST")
		if err != nil {
			t.Fatal(err)
		}
		// the real Cyrus master takes the rebuilt file and the legacy lines
		master.Stop()
		db, err := os.ReadFile(filepath.Join(outDir, "master-mailboxes.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(masterDB, db, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := cyrustest.Chown(masterDB); err != nil {
			t.Fatal(err)
		}
		master.Restart(t)
		// MUPDATE carries no mtime: a master stamps the time it took a
		// change, the follower the time it saw it (seconds apart)
		noMtime := func(m map[string]murdertest.DumpEntry) map[string]murdertest.DumpEntry {
			for n, e := range m {
				e.Mtime = ""
				m[n] = e
			}
			return m
		}
		if diff := cmp.Diff(noMtime(before), noMtime(master.Dump(t))); diff != "" {
			t.Errorf("master before (-) vs started on the rebuilt mailboxes.db (+):\n%s", diff)
		}
		listAfter, err := rawSession(master.MupdateAddr, "murder", "murderpw", "LIST")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(listBefore, listAfter); diff != "" {
			t.Errorf("MUPDATE LIST of the master before (-) and started on the rebuilt file (+):\n%s", diff)
		}
		empty := 0
		for n, e := range before {
			if e.HasPartition && e.Partition == "" {
				empty++
				if le := master.Dump(t)[n]; !le.HasPartition || le.Partition != "" {
					t.Errorf("%s: partition \"\" became %+v", n, le)
				}
			}
		}
		if empty == 0 {
			t.Error(`the history left no entry with an empty partition ("host!") on the master: the rehearsal no longer tests them`)
		}
		// Real Cyrus judges the rebuilt master: each backend's push, run as
		// a dry run, must want to remove none of its mailboxes.
		removals := 0
		for _, b := range []*murdertest.Instance{be1, be2} {
			w := string(b.CtlMboxlist(t, "-m", "-w"))
			for _, l := range strings.Split(w, "\n") {
				if strings.HasPrefix(l, "Remove Local Mailbox") {
					removals++
					t.Errorf("%s: ctl_mboxlist -m -w against the rebuilt master: %s", b.Name, l)
				}
			}
		}
		t.Logf("rollback check: %d mailboxes on the master, %d with an empty partition (renames, DELETED.*), %d removals seen by the backends' ctl_mboxlist -m -w",
			len(before), empty, removals)

		// The slot's legacy lines, loaded by real Cyrus into an empty
		// master (ctl_mboxlist -u -L), give the slot's entries exactly.
		legacy, err := os.ReadFile(filepath.Join(outDir, "s1.legacy"))
		if err != nil {
			t.Fatalf("no s1.legacy: %v\n%s", err, out)
		}
		spare := murdertest.StartMaster(t, murdertest.Options{Name: "spare"})
		if r := spare.Run(t, legacy, "ctl_mboxlist", "-u", "-L"); r.ExitCode != 0 {
			t.Fatalf("ctl_mboxlist -u -L < s1.legacy: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
		}
		want := map[string]murdertest.DumpEntry{}
		for n, e := range before {
			if e.Server == be1.Servername {
				want[n] = e
			}
		}
		if diff := cmp.Diff(noMtime(want), noMtime(spare.Dump(t))); diff != "" {
			t.Errorf("slot s1 on the master (-) vs s1.legacy loaded by ctl_mboxlist -u -L (+):\n%s", diff)
		}
	})
}

// rehearsalHistory is the history of a few weeks on one backend, made by
// the user u<u> while the bridge follows: a folder with subfolders
// renamed, folders deleted with Cyrus's default delete_mode: delayed
// (renamed to DELETED.*; a parent with children is refused by Cyrus, so
// the child goes first), and negative and group ACLs.
func rehearsalHistory(u int) []murdertest.Step {
	me := fmt.Sprintf("u%03d", u)
	return []murdertest.Step{
		{User: me, Op: "CREATE", Args: []string{"INBOX.Old"}},
		{User: me, Op: "CREATE", Args: []string{"INBOX.Old.x"}},
		{User: me, Op: "CREATE", Args: []string{"INBOX.Old.x.y"}},
		{User: me, Op: "RENAME", Args: []string{"INBOX.Old", "INBOX.Kept"}},
		{User: me, Op: "CREATE", Args: []string{"INBOX.Trash2"}},
		{User: me, Op: "CREATE", Args: []string{"INBOX.Trash2.sub"}},
		{User: me, Op: "DELETE", Args: []string{"INBOX.Trash2.sub"}},
		{User: me, Op: "DELETE", Args: []string{"INBOX.Trash2"}},
		{User: me, Op: "SETACL", Args: []string{"INBOX.Kept", "-" + fmt.Sprintf("u%03d", u+1), "w"}},
		{User: me, Op: "SETACL", Args: []string{"INBOX.Kept", "group:staff", "lr"}},
	}
}
