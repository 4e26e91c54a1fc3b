package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
)

// threeBridgesHost is the one name under which the three bridges' addresses
// are published in /etc/hosts while TestThreeBridgesLeaderKilled runs (docs/
// operations.md §8: Cyrus resolves mupdate_server with getaddrinfo and tries
// every address in turn).
const threeBridgesHost = "murderkit-threebridges.test"

// addHostsLines appends "IP name" lines to /etc/hosts and removes exactly
// those lines at cleanup. The name is ours alone, so nothing else resolves
// differently meanwhile.
func addHostsLines(t *testing.T, name string, ips []string) {
	t.Helper()
	const hosts = "/etc/hosts"
	old, err := os.ReadFile(hosts)
	if err != nil {
		t.Fatal(err)
	}
	drop := func(b []byte) string {
		var keep []string
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[1] == name {
				continue
			}
			keep = append(keep, l)
		}
		return strings.Join(keep, "")
	}
	s := drop(old)
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	for _, ip := range ips {
		s += ip + " " + name + "\n"
	}
	if err := os.WriteFile(hosts, []byte(s), 0o644); err != nil {
		t.Fatalf("publishing %s in /etc/hosts (the test runs as root, as the Cyrus tests do): %v", name, err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(hosts); err == nil {
			os.WriteFile(hosts, []byte(drop(b)), 0o644)
		}
	})
	got, err := net.DefaultResolver.LookupHost(context.Background(), name)
	if err != nil || len(got) != len(ips) {
		t.Fatalf("%s resolves to %v (%v), want %v", name, got, err, ips)
	}
}

// freePortOnAll finds one TCP port free on every address in ips.
func freePortOnAll(t *testing.T, ips []string) int {
	t.Helper()
	for try := 0; try < 20; try++ {
		l, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := true
		var ls []net.Listener
		for _, ip := range ips[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l2)
		}
		l.Close()
		for _, l2 := range ls {
			l2.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return 0
}

// Issue 5's first proof. Three `murder-bridge serve` processes (the real
// binary), each running an embedded etcd member on its own 127.0.0.x, are
// published under one name; a real Cyrus backend and a real Cyrus frontend
// have that name as mupdate_server. While the backend creates, renames and
// deletes mailboxes in a loop, the bridge whose member leads etcd is killed
// with SIGKILL. Then: every change the backend saw acknowledged is in the
// registry and in the frontend's list (after its slave resynchronises when
// its bridge was the one killed); the surviving bridges accept MUPDATE
// writes within 2 s of the new leader's election; nothing is duplicated or
// resurrected; the registry equals the backend's own mailboxes.db.
func TestThreeBridgesLeaderKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	testStart := time.Now()
	ips := []string{"127.0.0.71", "127.0.0.72", "127.0.0.73"}
	names := []string{"b1", "b2", "b3"}
	mport := freePortOnAll(t, ips)
	pport := freePortOnAll(t, ips)
	cport := freePortOnAll(t, ips)
	addHostsLines(t, threeBridgesHost, ips)

	dir := t.TempDir()
	cf := filepath.Join(dir, "credentials")
	os.WriteFile(cf, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600)
	var initial, clientURLs, listens []string
	for i, n := range names {
		initial = append(initial, n+"=http://"+net.JoinHostPort(ips[i], strconv.Itoa(pport)))
		clientURLs = append(clientURLs, "http://"+net.JoinHostPort(ips[i], strconv.Itoa(cport)))
		listens = append(listens, net.JoinHostPort(ips[i], strconv.Itoa(mport)))
	}
	procs := make([]*bridgeProc, 3)
	for i, n := range names {
		procs[i] = startServe(t, "--etcd-member", n,
			"--etcd-peer-url", "http://"+net.JoinHostPort(ips[i], strconv.Itoa(pport)),
			"--etcd-client-url", clientURLs[i],
			"--etcd-initial-cluster", strings.Join(initial, ","),
			"--data-dir", filepath.Join(dir, n), "--listen", listens[i],
			"--credentials", cf, "--admins", "murder,admin", "--servername", n)
	}
	for _, l := range listens {
		waitGreeting(t, l)
	}
	t.Logf("three bridges with embedded members up after %v", time.Since(testStart))

	mupdateServer := net.JoinHostPort(threeBridgesHost, strconv.Itoa(mport))
	m := murdertest.StartMurder(t, murdertest.MurderOptions{
		MupdateAddr: mupdateServer,
		Backend:     murdertest.Options{Extra: []string{"client_timeout: 3"}},
		Frontend:    murdertest.Options{RetryDelay: 2, Extra: []string{"client_timeout: 3"}},
	})

	// the backend's loop: create, rename, delete, as the admin over IMAP
	s := m.Backend.IMAPAs(t, "admin")
	var (
		mu        sync.Mutex
		live      = map[string]bool{} // acknowledged and not removed since
		gone      = map[string]bool{} // acknowledged delete or rename away
		uncertain = map[string]bool{} // an operation on it failed
		acked     int
		failed    int
	)
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		var order []string // live names, oldest first
		for i := 0; i < 3000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("tbx%05d", i)
			err := s.Create(name)
			mu.Lock()
			if err == nil {
				live[name], acked = true, acked+1
				order = append(order, name)
			} else {
				uncertain[name], failed = true, failed+1
			}
			mu.Unlock()
			if len(order) > 2 && i%3 == 2 {
				from, to := order[0], fmt.Sprintf("tbr%05d", i)
				order = order[1:]
				err := s.Rename(from, to)
				mu.Lock()
				if err == nil {
					delete(live, from)
					gone[from], live[to], acked = true, true, acked+1
					order = append(order, to)
				} else {
					uncertain[from], uncertain[to], failed = true, true, failed+1
					delete(live, from)
				}
				mu.Unlock()
			}
			if len(order) > 2 && i%4 == 3 {
				victim := order[0]
				order = order[1:]
				err := s.Delete(victim)
				mu.Lock()
				delete(live, victim)
				if err == nil {
					gone[victim], acked = true, acked+1
				} else {
					uncertain[victim], failed = true, failed+1
				}
				mu.Unlock()
			}
		}
	}()
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return acked }
	if err := murdertest.Eventually(30*time.Second, func() error {
		if n := ackedNow(); n < 60 {
			return fmt.Errorf("only %d changes acknowledged", n)
		}
		return nil
	}); err != nil {
		close(stop)
		t.Fatal(err)
	}

	// find the leader and kill its bridge
	leaderIdx := -1
	var leaderID uint64
	if err := murdertest.Eventually(10*time.Second, func() error {
		for i, u := range clientURLs {
			lead, self, err := etcdtest.MemberStatus(ctx, u)
			if err != nil {
				return err
			}
			if lead != 0 && lead == self {
				leaderIdx, leaderID = i, self
				return nil
			}
		}
		return fmt.Errorf("no member says it leads")
	}); err != nil {
		close(stop)
		t.Fatal(err)
	}
	ackedAtKill := ackedNow()
	killedAt := time.Now()
	procs[leaderIdx].cmd.Process.Kill()
	<-procs[leaderIdx].done
	procs[leaderIdx].done <- nil
	t.Logf("killed bridge %s (etcd leader %x) with SIGKILL after %d acknowledged changes", names[leaderIdx], leaderID, ackedAtKill)
	var survivors []int
	for i := range names {
		if i != leaderIdx {
			survivors = append(survivors, i)
		}
	}

	// the new leader's election, as the survivors see it
	var electedAt time.Time
	// a steady 10 ms poll, not internal/eventually (whose pauses grow): the
	// election's time is measured
	for deadline := time.Now().Add(15 * time.Second); electedAt.IsZero(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			close(stop)
			t.Fatal("no new etcd leader 15 s after the kill")
		}
		for _, i := range survivors {
			if lead, _, err := etcdtest.MemberStatus(ctx, clientURLs[i]); err == nil && lead != 0 && lead != leaderID {
				electedAt = time.Now()
				break
			}
		}
	}
	t.Logf("new leader elected %v after the kill", electedAt.Sub(killedAt).Round(time.Millisecond))

	// each survivor accepts an MUPDATE write (RESERVE, ACTIVATE, DELETE)
	// within 2 s of the election
	var wg sync.WaitGroup
	for _, i := range survivors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probe := "tbprobe." + names[i]
			var last error
			// a steady 20 ms poll: the deadline is measured from the
			// election, which internal/eventually's growing pauses would blur
			for deadline := electedAt.Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				last = func() error {
					wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
					defer wcancel()
					c, err := mupdateclient.Dial(wctx, listens[i], nil)
					if err != nil {
						return err
					}
					defer c.Close()
					if err := c.Authenticate(wctx, "murder", "murderpw", "PLAIN"); err != nil {
						return err
					}
					if err := c.Reserve(wctx, probe, "probe!default"); err != nil {
						return err
					}
					if err := c.Activate(wctx, probe, "probe!default", "admin\tlrswipkxtecda\t"); err != nil {
						return err
					}
					return c.Delete(wctx, probe)
				}()
				if last == nil {
					t.Logf("bridge %s accepted a write %v after the election", names[i], time.Since(electedAt).Round(time.Millisecond))
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("bridge %s did not accept a write within 2 s of the new leader's election: %v", names[i], last)
					return
				}
			}
		}()
	}
	wg.Wait()

	// the backend keeps going through the survivors, then stops
	target := ackedNow() + 30
	if err := murdertest.Eventually(30*time.Second, func() error {
		if n := ackedNow(); n < target {
			return fmt.Errorf("backend: %d changes acknowledged, want %d (writes after the kill stall?)", n, target)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	close(stop)
	<-loopDone
	mu.Lock()
	t.Logf("backend: %d changes acknowledged, %d failed (in flight at the kill); %d live, %d deleted or renamed away", acked, failed, len(live), len(gone))
	mu.Unlock()

	// the registry, through the surviving members
	var eps []string
	for _, i := range survivors {
		eps = append(eps, strings.TrimPrefix(clientURLs[i], "http://"))
	}
	st, err := registry.Open(ctx, "etcd://"+strings.Join(eps, ",")+"/murder")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	regNames := func() ([]string, error) {
		var ns []string
		_, err := st.List(ctx, "", func(e registry.Entry) error {
			if strings.HasPrefix(e.Name, "tb") {
				ns = append(ns, e.Name)
			}
			return nil
		})
		return ns, err
	}
	reg, err := regNames()
	if err != nil {
		t.Fatal(err)
	}
	inReg := map[string]bool{}
	for _, n := range reg {
		if inReg[n] {
			t.Errorf("registry lists %s twice", n)
		}
		inReg[n] = true
	}
	mu.Lock()
	for n := range live {
		if !uncertain[n] && !inReg[n] {
			t.Errorf("acknowledged mailbox %s is not in the registry", n)
		}
	}
	for n := range gone {
		if inReg[n] {
			t.Errorf("acknowledged delete/rename-away of %s, but the registry holds it (resurrected)", n)
		}
	}
	mu.Unlock()
	for _, n := range reg {
		if strings.HasPrefix(n, "tbprobe.") {
			t.Errorf("probe %s was deleted through its bridge but is in the registry", n)
		}
	}

	// the registry equals the backend's own mailboxes.db (names)
	var local []string
	for n, e := range m.Backend.Dump(t) {
		if strings.HasPrefix(n, "tb") && !strings.Contains(e.MBType, "d") { // 3.6 keeps tombstones (mbtype d)
			local = append(local, n)
		}
	}
	sort.Strings(local)
	// A change the backend saw fail may still have been applied: the
	// bridge it went to can be killed after etcd committed the change and
	// before it answered (no server can tell its client then), and Cyrus
	// undoes its own side of a failed change. Such names (uncertain: in
	// flight at the kill) may differ; every other name must be the same on
	// both sides. docs/operations.md, "Failover", says how an operator
	// reconciles them (ctl_mboxlist -m on the backend).
	mu.Lock()
	onlyReg, onlyLocal := minus(reg, local), minus(local, reg)
	var doubtful []string
	certain := func(ns []string) []string {
		var out []string
		for _, n := range ns {
			if uncertain[n] {
				doubtful = append(doubtful, n)
			} else {
				out = append(out, n)
			}
		}
		return out
	}
	onlyReg, onlyLocal = certain(onlyReg), certain(onlyLocal)
	mu.Unlock()
	if len(onlyReg) > 0 || len(onlyLocal) > 0 {
		t.Errorf("registry (%d tb* names) differs from the backend's mailboxes.db (%d) on names whose changes were not in doubt: only in registry %v, only on backend %v",
			len(reg), len(local), onlyReg, onlyLocal)
	}
	if len(doubtful) > 0 {
		t.Logf("registry and backend differ on %v, whose change failed on the backend while in flight at the kill (applied in etcd before the killed bridge could answer)", doubtful)
	}

	// the frontend: its slave's replica, then IMAP LIST through it
	resyncStart := time.Now()
	if err := murdertest.Eventually(40*time.Second, func() error {
		var fe []string
		for n, e := range m.Frontend.Dump(t) {
			if strings.HasPrefix(n, "tb") && !strings.Contains(e.MBType, "d") {
				fe = append(fe, n)
			}
		}
		sort.Strings(fe)
		if !slices.Equal(fe, reg) {
			return fmt.Errorf("frontend replica: only there %v, missing %v", head(minus(fe, reg)), head(minus(reg, fe)))
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	t.Logf("frontend replica equal to the registry %v after the loop stopped", time.Since(resyncStart).Round(time.Millisecond))
	fs, err := murdertest.DialIMAP(m.Frontend.IMAPAddr, "admin", "adminpw")
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	listed, err := fs.Names("tb*")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range listed {
		if seen[n] {
			t.Errorf("frontend LIST shows %s twice", n)
		}
		seen[n] = true
	}
	sort.Strings(listed)
	if !slices.Equal(listed, reg) {
		t.Errorf("frontend LIST tb*: only there %v, missing %v", head(minus(listed, reg)), head(minus(reg, listed)))
	}
	t.Logf("whole test %v", time.Since(testStart).Round(time.Millisecond))
}

// minus returns the members of a not in b.
func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

func head(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], "…")
	}
	return s
}
