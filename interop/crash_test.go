package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// kill -9 of murder-bridge while a real backend creates mailboxes: every
// CREATE the backend acknowledged is in the registry after a restart;
// `ctl_mboxlist -m` (what a Cyrus site runs after a master outage) then
// removes what was only reserved when the bridge died, so the registry
// equals the backend's own list; and the frontend's slave resyncs to it.
func TestBridgeKilledDuringWrites(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "credentials")
	os.WriteFile(cf, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600)
	addr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	regDir := filepath.Join(dir, "registry")
	args := []string{"--registry", "leveldb://" + regDir, "--listen", addr, "--credentials", cf, "--admins", "murder,admin"}
	p := startServe(t, args...)
	waitGreeting(t, addr)
	m := murdertest.StartMurder(t, murdertest.MurderOptions{MupdateAddr: addr, Frontend: murdertest.Options{RetryDelay: 2}})

	s := m.Backend.IMAPAs(t, "admin")
	var mu sync.Mutex
	var acked []string
	failed := 0 // creates refused
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("user.crash%04d", i)
			err := s.Create(name)
			mu.Lock()
			if err == nil {
				acked = append(acked, name)
			} else {
				failed++
			}
			mu.Unlock()
		}
	}()
	// let some creates through, then crash the bridge mid-stream
	if err := murdertest.Eventually(30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 30 {
			return fmt.Errorf("only %d creates acknowledged", len(acked))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	failedBefore := failed
	mu.Unlock()
	p.cmd.Process.Kill()
	<-p.done
	p.done <- nil
	// creates now fail: the backend rolls them back
	eventually.True(t, 30*time.Second, "a create refused after the kill", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failed > failedBefore
	})
	close(stop)
	<-done
	mu.Lock()
	ackedAtCrash := slices.Clone(acked)
	mu.Unlock()
	t.Logf("%d creates acknowledged before the kill", len(ackedAtCrash))

	// every acknowledged create survived the kill (read the registry
	// directly while no bridge owns it)
	st, err := leveldb.Open(context.Background(), regDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ackedAtCrash {
		if _, err := st.Get(context.Background(), n); err != nil {
			t.Errorf("acknowledged %s lost in the crash: %v", n, err)
		}
	}
	st.Close()

	p2 := startServe(t, args...)
	waitGreeting(t, addr)
	m.Backend.CtlMboxlist(t, "-m")
	local := m.Backend.Dump(t)
	// the frontend's slave reconnects (retry delay 2 s) and resyncs
	if err := murdertest.Eventually(30*time.Second, func() error {
		fe := m.Frontend.Dump(t)
		if len(fe) != len(local) {
			return fmt.Errorf("frontend replica has %d entries, backend %d", len(fe), len(local))
		}
		for n := range local {
			if _, ok := fe[n]; !ok {
				return fmt.Errorf("frontend replica lacks %s", n)
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	p2.term(t)
	st, err = leveldb.Open(context.Background(), regDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var inReg []string
	st.List(context.Background(), "", func(e registry.Entry) error { inReg = append(inReg, e.Name); return nil })
	st.Close()
	var inLocal []string
	for n := range local {
		inLocal = append(inLocal, n)
	}
	slices.Sort(inLocal)
	if !slices.Equal(inReg, inLocal) {
		t.Errorf("after ctl_mboxlist -m, registry %d entries vs backend %d:\nregistry: %s\nbackend:  %s",
			len(inReg), len(inLocal), strings.Join(inReg, " "), strings.Join(inLocal, " "))
	}
	if len(inLocal) < len(ackedAtCrash) {
		t.Errorf("backend holds %d mailboxes, fewer than the %d acknowledged", len(inLocal), len(ackedAtCrash))
	}
}
