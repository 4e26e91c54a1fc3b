package shadow_test

import (
	"bytes"
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/shadow"
)

// TestMurderFrontend: a real Cyrus 3.6.1 murder (master, backend, frontend
// with its mupdate slave). The frontend's LIST equals the backend's for
// every user, and equals the registry side computed from the master's
// mailboxes.db (`ctl_mboxlist -d` on the master: the entries a bridge
// following it would hold).
func TestMurderFrontend(t *testing.T) {
	st := func(user, op string, args ...string) murdertest.Step {
		return murdertest.Step{User: user, Op: op, Args: args}
	}
	m := murdertest.StartMurder(t, murdertest.MurderOptions{Seed: []murdertest.Step{
		st("", "CREATE", "user.alice"), st("", "CREATE", "user.alice.Sent"), st("", "CREATE", "user.alice.a.b"),
		st("", "CREATE", "user.bob"), st("", "CREATE", "user.bob.top"), st("", "SETACL", "user.bob.top", "alice", "lr"),
		st("", "CREATE", "user.bob.p.q"), st("", "SETACL", "user.bob.p.q", "alice", "lr"),
		st("", "CREATE", "shared.lab"), st("", "SETACL", "shared.lab", "anyone", "lrs"),
	}})
	users := []shadow.User{{Name: "alice", Password: "alicepw"}, {Name: "bob", Password: "bobpw"}}
	src := func(addr string) *shadow.IMAPSource {
		u, _ := url.Parse("imap://" + addr)
		return &shadow.IMAPSource{URL: u}
	}
	front, back := src(m.Frontend.IMAPAddr), src(m.Backend.IMAPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The slave may still be catching up: wait until alice sees her Sent.
	err := murdertest.Eventually(30*time.Second, func() error {
		l, err := front.List(ctx, users[0])
		if err != nil {
			return err
		}
		if len(l.Mailboxes) < 5 {
			return context.DeadlineExceeded
		}
		return nil
	})
	if err != nil {
		t.Fatalf("frontend never showed alice's mailboxes: %v", err)
	}
	dump, err := shadow.ReadDump(bytes.NewReader(m.Master.CtlMboxlist(t, "-d")))
	if err != nil {
		t.Fatal(err)
	}
	reg := &shadow.RegistrySource{Name: "master dump", Visible: shadow.DumpVisible(dump, nil)}
	r := &shadow.Runner{Old: front, New: back, Concurrency: 2, Timeout: 30 * time.Second}
	sum, err := r.Run(ctx, users)
	if err != nil || sum.Equal != len(users) {
		t.Errorf("frontend vs backend: %+v, %v", sum, err)
	}
	for _, u := range users {
		fl, err := front.List(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		rl, err := reg.ListIn(ctx, u, fl.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		if d := shadow.Compare(fl, rl, shadow.CompareOptions{StructuralOnly: true}); len(d) != 0 {
			t.Errorf("%s: frontend vs registry side from the master:\n%s", u.Name, fmtDiffs(d))
		}
	}
}
