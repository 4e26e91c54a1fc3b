package interop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/cutover"
	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// cutoverBridge is a bridge as `murder-bridge serve --follow` runs it: it
// follows the old master, refuses writes outside cut-over slots (the follow
// Guard) and writes the changes of cut-over slots through to the old master.
type cutoverBridge struct {
	Addr  string
	Store registry.Store
	WT    *cutover.WriteThrough
	F     *follow.Follower
	Logs  *lockedBuffer
	stop  func()
}

// startCutoverBridge serves the registry in dir (leveldb, dir/registry,
// queue dir/queue) on addr ("" picks a port), following master.
func startCutoverBridge(t *testing.T, dir, addr, master string) *cutoverBridge {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := leveldb.Open(ctx, filepath.Join(dir, "registry"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(dir, "credentials")
	if err := os.WriteFile(cf, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	if err := murdertest.Eventually(10*time.Second, func() error {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := &cutoverBridge{Addr: ln.Addr().String(), Store: st, Logs: logs}
	// SlotTTL of a nanosecond: the Guard and the write-through read the
	// slots for every decision, so a slot change takes effect at once
	f, err := follow.New(follow.Config{Addr: master, User: "murder", Password: "murderpw", Mech: "PLAIN",
		Store: st, Logger: log, NoopInterval: time.Second, MaxBackoff: time.Second, SlotTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := cutover.New(cutover.Config{Store: st, Addr: master, User: "murder", Password: "murderpw", Mech: "PLAIN",
		QueueDir: filepath.Join(dir, "queue"), SlotTTL: time.Nanosecond, RetryInterval: 300 * time.Millisecond,
		Timeout: 5 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b.F, b.WT = f, wt
	// as runDaemon: the server and, beside it, the follower and the
	// write-through queue; the server stops first
	done := make(chan error, 1)
	go func() {
		lctx, lstop := context.WithCancel(ctx)
		defer lstop()
		loops := make(chan error, 2)
		go func() { loops <- f.Run(lctx) }()
		go func() { loops <- wt.Run(lctx) }()
		err := serveOurs(ctx, ourConfig{
			Store: st, Listener: ln, Credentials: cf, Admins: []string{"murder", "admin"}, Logger: log,
			Server: mupdateserver.Config{FailedLoginPause: 100 * time.Millisecond},
			Wrap:   func(be mupdate.Backend) mupdate.Backend { return wt.Wrap(f.Guard(be)) },
		})
		lstop()
		for range 2 {
			if lerr := <-loops; err == nil {
				err = lerr
			}
		}
		wt.Close()
		done <- err
	}()
	var once bool
	b.stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("the bridge: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("the bridge did not return 15 s after its context ended")
		}
		st.Close()
	}
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("murder-bridge log (tail):\n%s", tail(logs.String(), 6000))
		}
	})
	return b
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitSynced waits until the follower has the master's full list.
func (b *cutoverBridge) waitSynced(t *testing.T, within time.Duration) {
	t.Helper()
	if err := murdertest.Eventually(within, func() error {
		if s := b.F.Status(); !s.Synced || s.Lag < 0 {
			return fmt.Errorf("follow status %+v", s)
		}
		return nil
	}); err != nil {
		t.Fatalf("bridge never synchronised with the master: %v", err)
	}
}

// cutSlot stores slot name over locations in state cutover, as
// `murder-bridge slot define/shadow --slot/slot cutover` leave it.
func cutSlot(t *testing.T, st registry.Store, name string, locs ...string) {
	t.Helper()
	ctx := context.Background()
	s := registry.Slot{Name: name, State: registry.SlotMirrored}
	for _, l := range locs {
		s.Locations = append(s.Locations, registry.ParseLocation(l))
	}
	s, err := st.CreateSlot(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []registry.SlotState{registry.SlotShadowClean, registry.SlotCutover} {
		if err := s.Transition(to, "test", "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.UpdateSlot(ctx, s); err != nil {
		t.Fatal(err)
	}
}

func setSlotState(t *testing.T, st registry.Store, name string, to registry.SlotState) {
	t.Helper()
	ctx := context.Background()
	s, err := st.GetSlot(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Transition(to, "test", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateSlot(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// masterEqualsRegistry compares the master's mailboxes.db (ctl_mboxlist -d)
// with the registry: name, type, location, ACL.
func masterEqualsRegistry(t *testing.T, master *murdertest.Instance, st registry.Store, within time.Duration) map[string]followRecord {
	t.Helper()
	var diff string
	var want map[string]followRecord
	murdertest.Eventually(within, func() error {
		want = map[string]followRecord{}
		for n, e := range master.Dump(t) {
			acl := e.ACL
			if acl == nil {
				acl = map[string]string{}
			}
			want[n] = followRecord{MBType: e.MBType, Location: e.Location(), ACL: acl}
		}
		diff = cmp.Diff(want, registryRecords(t, st))
		if diff != "" {
			return errors.New("differs")
		}
		return nil
	})
	if diff != "" {
		t.Fatalf("old master mailboxes.db (-) vs registry (+):\n%s", diff)
	}
	return want
}

// The write-through queue survives the old master being down: with slot
// s1 (the backend) cut over, the master is stopped; ACL changes through the
// real backend are queued, creates (and 3.6's delayed DELETE, which creates
// DELETED.*) are refused with NO "try later"; the bridge is restarted with
// changes still queued; the master comes back, the queue drains in order
// (three SETACLs on one mailbox: the master ends with the last), and the
// master's mailboxes.db equals the registry.
func TestWriteThroughQueueSurvivesMasterDown(t *testing.T) {
	m := murdertest.StartMurder(t, murdertest.MurderOptions{Seed: murdertest.LabSeed, NoFrontend: true})
	dir := t.TempDir()
	b := startCutoverBridge(t, dir, "", m.MupdateAddr)
	b.waitSynced(t, 20*time.Second)
	cutSlot(t, b.Store, "s1", m.Backend.Servername)
	m.Backend.Join(t, b.Addr) // the backend now sends MUPDATE to the bridge

	// master up: a create is written through at once
	alice := m.Backend.IMAPAs(t, "alice")
	defer alice.Close()
	if err := alice.Create("INBOX.Cut"); err != nil {
		t.Fatalf("CREATE through the bridge: %v\nbridge log:\n%s", err, tail(b.Logs.String(), 3000))
	}
	if _, ok := m.Master.Dump(t)["user.alice.Cut"]; !ok {
		t.Fatal("the create did not reach the old master")
	}

	m.Master.Stop()
	// ACL changes are accepted and queued, in order
	for _, r := range []string{"lr", "lrs", "lrsw"} {
		if err := alice.SetACL("INBOX.Cut", "bob", r); err != nil {
			t.Fatalf("SETACL while the master is down: %v", err)
		}
	}
	if err := alice.SetACL("INBOX", "bob", "lrs"); err != nil {
		t.Fatal(err)
	}
	if n := b.WT.Queued(); n != 4 {
		t.Fatalf("queued = %d, want 4", n)
	}
	// creates are refused while anything is queued
	for _, try := range []func() error{
		func() error { return alice.Create("INBOX.Refused") },
		func() error { return alice.Delete("INBOX.Trash") },
	} {
		// Cyrus shows its own text; the bridge's NO is in its log
		if err := try(); err == nil || !strings.Contains(err.Error(), "mupdate") {
			t.Errorf("a create while changes are queued = %v, want NO", err)
		}
	}
	if n := strings.Count(b.Logs.String(), "still queued for the old mupdate master"); n != 2 {
		t.Errorf("the bridge refused %d writes with \"try later\", want 2 (the create, the delete)", n)
	}
	if names, err := alice.Names("*"); err != nil || !slices.Contains(names, "INBOX.Trash") {
		t.Errorf("after the refused DELETE the backend lists %v (%v), want INBOX.Trash still there", names, err)
	}
	alice.Close()

	// the bridge restarts with the queue on disk
	addr := b.Addr
	b.stop()
	b = startCutoverBridge(t, dir, addr, m.MupdateAddr)
	if n := b.WT.Queued(); n != 4 {
		t.Fatalf("after a bridge restart queued = %d, want 4", n)
	}
	m.Master.Restart(t)
	if err := murdertest.Eventually(20*time.Second, func() error {
		if n := b.WT.Queued(); n != 0 {
			return fmt.Errorf("%d still queued; %+v", n, b.WT.Status())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := masterEqualsRegistry(t, m.Master, b.Store, 10*time.Second)
	if got := want["user.alice.Cut"].ACL["bob"]; got != "lrsw" {
		t.Errorf("master's ACL for bob on user.alice.Cut = %q, want the last SETACL lrsw", got)
	}
	if _, ok := want["user.alice.Refused"]; ok {
		t.Error("a refused create reached the master")
	}
	if _, ok := want["user.alice.Trash"]; !ok {
		t.Error("the refused DELETE removed user.alice.Trash")
	}
	// once drained, creates work again
	alice = m.Backend.IMAPAs(t, "alice")
	defer alice.Close()
	if err := alice.Create("INBOX.After"); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Master.Dump(t)["user.alice.After"]; !ok {
		t.Error("a create after the drain did not reach the master")
	}
	if s := b.WT.Status(); s.Rejected != 0 {
		t.Errorf("the master refused %d changes: %s", s.Rejected, s.LastError)
	}
}
