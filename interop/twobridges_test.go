package interop

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
)

// Two bridges on one real etcd: the backend writes through bridge A, the
// frontend's slave follows bridge B; the backend's push and later changes
// reach the frontend through B's feed (groundwork for docs/runbook.md step 5, cutover with several bridges).
func TestTwoBridgesOneEtcd(t *testing.T) {
	c := etcdtest.Start(t, 1, &etcdtest.Options{FirstIP: 42})
	open := func() registry.Store {
		st, err := registry.Open(context.Background(), c.URL("/murder", ""))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, b := startOursOn(t, open()), startOursOn(t, open())
	m := murdertest.StartMurder(t, murdertest.MurderOptions{MupdateAddr: a.Addr, Seed: murdertest.LabSeed, NoFrontend: true})
	fe := murdertest.StartFrontend(t, b.Addr, murdertest.Options{Serverlist: []string{m.Backend.Servername}})
	names := func() ([]string, error) {
		s, err := murdertest.DialIMAP(fe.IMAPAddr, "alice", "alicepw")
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return s.Names("*")
	}
	if n, err := names(); err != nil || !slices.Equal(n, []string{"INBOX", "INBOX.Sent", "INBOX.Trash", "shared", "shared.lab"}) {
		t.Fatalf("alice through the frontend on bridge B: %v %v", n, err)
	}
	s := m.Backend.IMAPAs(t, "alice")
	if err := s.Create("INBOX.ViaA"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := murdertest.Eventually(10*time.Second, func() error {
		n, err := names()
		if err != nil {
			return err
		}
		if !slices.Contains(n, "INBOX.ViaA") {
			return fmt.Errorf("frontend on bridge B lists %v", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a CREATE through bridge A reached the frontend on bridge B after %v", time.Since(start))
}
