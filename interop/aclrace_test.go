package interop

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/internal/stress"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// TestNegativeACLUnderLoad stresses what the twin murders twice saw lose a
// "-anyone" entry at a load average above 30 (docs/twins.md, "Open, not yet
// explained"): real Cyrus backends and a frontend on murder-bridge (leveldb
// registry); alice sets ACLs on her INBOX through the frontend, alternating
// "anyone", "-anyone", a user and a negative user, one SETACL after the
// other's answer, while the admin on the other backend sets and removes
// ACLs and creates and deletes mailboxes, and CPU hogs take both cores.
// After every answered SETACL the registry must hold the backend's ACL, and
// at the end the frontend's mailboxes.db must too.
// MURDERKIT_ACLRACE_ROUNDS sets the rounds (default 6).
func TestNegativeACLUnderLoad(t *testing.T) {
	rounds := stress.Rounds(t, 6)
	ours := startOurs(t)
	b1 := murdertest.StartBackend(t, ours.Addr, murdertest.Options{Name: "backend1"})
	b2 := murdertest.StartBackend(t, ours.Addr, murdertest.Options{Name: "backend2"})
	fe := murdertest.StartFrontend(t, ours.Addr, murdertest.Options{Name: "frontend"})
	a1, a2 := b1.IMAPAs(t, "admin"), b2.IMAPAs(t, "admin")
	for _, n := range []string{"user.alice", "user.alice.x"} {
		if err := a1.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"user.bob", "user.bob.y"} {
		if err := a2.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := murdertest.Eventually(30*time.Second, func() error {
		if _, ok := fe.Dump(t)["user.alice"]; !ok {
			return fmt.Errorf("the frontend has no user.alice yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	alice := fe.IMAPAs(t, "alice")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	stress.Hog(stop, &wg)
	var otherErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		steps := []func(i int) error{
			func(int) error { return a2.SetACL("user.bob.y", "anyone", "lrs") },
			func(int) error { return a2.SetACL("user.bob.y", "-anyone", "l") },
			func(i int) error { return a2.Create(fmt.Sprintf("user.bob.t%d", i)) },
			func(int) error { return a2.SetACL("user.bob", "-anyone", "lr") },
			func(i int) error { return a2.SetACL(fmt.Sprintf("user.bob.t%d", i), "admin", "lrswipkxtecda") },
			func(i int) error { return a2.Delete(fmt.Sprintf("user.bob.t%d", i)) },
			func(int) error { return a1.SetACL("user.alice.x", "-anyone", "lrs") },
			func(int) error { return a1.SetACL("user.alice.x", "anyone", "lr") },
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := steps[i%len(steps)](i / len(steps)); err != nil {
				otherErr = err
				return
			}
		}
	}()

	sets := [][2]string{
		{"anyone", "lrswipkxtecda"},
		{"-anyone", "lrs"},
		{"bob", "lr"},
		{"anyone", "lrs"},
		{"-anyone", "l"},
		{"-bob", "l"},
	}
	regACL := func() map[string]string {
		e, err := ours.Store.Get(ctx, "user.alice")
		if err != nil {
			t.Fatalf("registry: %v", err)
		}
		m := map[string]string{}
		for _, it := range e.ACL {
			m[it.ID] = it.Rights
		}
		return m
	}
	for i := range rounds {
		s := sets[i%len(sets)]
		if err := alice.SetACL("INBOX", s[0], s[1]); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		be := b1.Dump(t)["user.alice"].ACL
		if reg := regACL(); !maps.Equal(reg, be) {
			t.Fatalf("round %d, after SETACL INBOX %s %s: registry ACL %v, backend %v\n%s", i, s[0], s[1], reg, be, ours.Logs.String())
		}
	}
	close(stop)
	wg.Wait()
	if otherErr != nil {
		t.Fatalf("the other backend's writes: %v", otherErr)
	}
	be := b1.Dump(t)["user.alice"].ACL
	if reg := regACL(); !maps.Equal(reg, be) {
		t.Fatalf("at the end: registry ACL %v, backend %v", reg, be)
	}
	if err := murdertest.Eventually(30*time.Second, func() error {
		if got := fe.Dump(t)["user.alice"].ACL; !maps.Equal(got, be) {
			return fmt.Errorf("frontend ACL %v, backend %v", got, be)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestFollowerNegativeACLUnderLoad is the follow variant of the stress
// above (docs/twins.md: the registry following its Cyrus master once kept
// "anyone lrs" while the master held "anyone lrs -anyone l"): a follower
// (follow.Follower on a leveldb registry) follows a real Cyrus master while
// the admin sets "anyone", "-anyone", users and negative users on one
// mailbox of the real backend, one after the other, with other ACL writes
// on the backend and CPU hogs on both cores. After each SETACL the
// registry must reach the master's ACL (Cyrus sends its changes in
// 5-second batches, or at a NOOP; the follower sends one every second).
// MURDERKIT_ACLRACE_ROUNDS sets the rounds (default 4).
func TestFollowerNegativeACLUnderLoad(t *testing.T) {
	rounds := stress.Rounds(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := murdertest.StartMurder(t, murdertest.MurderOptions{Seed: murdertest.LabSeed, NoFrontend: true})
	st, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "registry"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logs := &lockedBuffer{}
	f, err := follow.New(follow.Config{Addr: m.MupdateAddr, User: "murder", Password: "murderpw", Mech: "PLAIN", Store: st,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		NoopInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- f.Run(ctx) }()
	defer func() { cancel(); <-runDone }()

	adm := m.Backend.IMAPAs(t, "admin")
	for _, n := range []string{"user.fred", "user.fred.ops", "user.fred.other"} {
		if err := adm.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	const name = "user.fred.ops"
	aclOf := func(mb mupdate.Mailbox) map[string]string {
		out := map[string]string{}
		acl, err := mboxlist.ParseACLTab(mb.ACL)
		if err != nil {
			t.Errorf("ACL %q from the master: %v", mb.ACL, err)
		}
		for _, it := range acl {
			out[it.ID] = it.Rights
		}
		return out
	}
	regACL := func() (map[string]string, error) {
		e, err := st.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, it := range e.ACL {
			out[it.ID] = it.Rights
		}
		return out, nil
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	stress.Hog(stop, &wg)
	other := m.Backend.IMAPAs(t, "admin")
	var otherErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ids := [][2]string{{"anyone", "lrs"}, {"-anyone", "l"}, {"bob", "lr"}, {"-bob", "l"}}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s := ids[i%len(ids)]
			if err := other.SetACL("user.fred.other", s[0], s[1]); err != nil {
				otherErr = err
				return
			}
		}
	}()

	sets := [][2]string{
		{"anyone", "lrs"},
		{"-anyone", "l"},
		{"bob", "lr"},
		{"anyone", "lrswipkxtecda"},
		{"-anyone", "lrs"},
		{"-bob", "l"},
	}
	for i := range rounds {
		s := sets[i%len(sets)]
		if err := adm.SetACL(name, s[0], s[1]); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		want := aclOf(listAll(ctx, t, m.MupdateAddr)[name])
		if err := murdertest.Eventually(30*time.Second, func() error {
			got, err := regACL()
			if err != nil {
				return err
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("registry ACL %v, master %v", got, want)
			}
			return nil
		}); err != nil {
			t.Fatalf("round %d, after SETACL %s %s %s: %v\nfollower: %+v\n%s", i, name, s[0], s[1], err, f.Status(), logs.String())
		}
	}
	close(stop)
	wg.Wait()
	if otherErr != nil {
		t.Fatalf("the other ACL writes: %v", otherErr)
	}
}
