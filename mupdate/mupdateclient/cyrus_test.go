package mupdateclient_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
)

// TestAgainstRealCyrusMaster: our client against a real Cyrus 3.6.1
// `mupdate -m` (started by murdertest; the test fails when Cyrus is
// missing): authenticate with PLAIN and with SCRAM (Cyrus's default
// mechanism list), write, FIND, LIST, and follow an UPDATE stream (the full
// list, then live changes flushed by NOOP).
func TestAgainstRealCyrusMaster(t *testing.T) {
	for _, tc := range []struct {
		name, masterMechs, mech string
	}{
		{"plain", "", "PLAIN"},
		{"default-mechs-scram", "none", ""}, // picks SCRAM-SHA-512 from Cyrus's default list
	} {
		t.Run(tc.name, func(t *testing.T) {
			master := murdertest.StartMaster(t, murdertest.Options{Name: "master-" + tc.name, MasterMechs: tc.masterMechs})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			dial := func() *mupdateclient.Client {
				c, err := mupdateclient.Dial(ctx, master.MupdateAddr, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				if err := c.Authenticate(ctx, "admin", "adminpw", tc.mech); err != nil {
					t.Fatalf("authenticate (offered %q): %v", c.Banner().Mechanisms, err)
				}
				return c
			}
			w := dial()
			if tc.mech == "" {
				if got := w.Banner().Mechanisms[0]; got != "SCRAM-SHA-512" {
					t.Fatalf("Cyrus's default list starts with %q", got)
				}
			}
			loc := "127.0.0.1:11143!default"
			if err := w.Reserve(ctx, "user.zed", loc); err != nil {
				t.Fatal(err)
			}
			if err := w.Activate(ctx, "user.zed", loc, "zed\tlrswipkxtecdan\t"); err != nil {
				t.Fatal(err)
			}
			if err := w.Reserve(ctx, "user.yan", "h2!p"); err != nil {
				t.Fatal(err)
			}
			err := w.Reserve(ctx, "user.zed", "elsewhere!p")
			if !errors.Is(err, mupdate.ErrExists) {
				t.Fatalf("RESERVE at another location: %v, want mupdate.ErrExists", err)
			}
			m, ok, err := w.Find(ctx, "user.zed")
			if err != nil || !ok || m != (mupdate.Mailbox{Name: "user.zed", State: mupdate.Active, Location: loc, ACL: "zed\tlrswipkxtecdan\t"}) {
				t.Fatalf("FIND user.zed = %+v %v %v", m, ok, err)
			}
			if _, ok, err := w.Find(ctx, "user.nosuch"); ok || err != nil {
				t.Fatalf("FIND user.nosuch = %v %v", ok, err)
			}
			var listed []mupdate.Mailbox
			if err := w.List(ctx, "", func(m mupdate.Mailbox) error { listed = append(listed, m); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(listed) != 2 || listed[0].Name != "user.yan" || listed[0].State != mupdate.Reserved || listed[1].Name != "user.zed" {
				t.Fatalf("LIST = %+v", listed)
			}
			listed = nil
			if err := w.List(ctx, "h2!", func(m mupdate.Mailbox) error { listed = append(listed, m); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(listed) != 1 || listed[0].Name != "user.yan" {
				t.Fatalf("LIST h2! = %+v", listed)
			}

			// Follow: full list, then live changes.
			f := dial()
			var mu sync.Mutex
			var events []mupdateclient.Event
			synced := make(chan struct{})
			uctx, ucancel := context.WithCancel(ctx)
			defer ucancel()
			upd := make(chan error, 1)
			go func() {
				upd <- f.Update(uctx, nil, func(ev mupdateclient.Event) error {
					mu.Lock()
					events = append(events, ev)
					mu.Unlock()
					if ev.Type == mupdateclient.EventSynced {
						close(synced)
					}
					return nil
				})
			}()
			select {
			case <-synced:
			case err := <-upd:
				t.Fatalf("UPDATE ended: %v", err)
			}
			if err := w.Activate(ctx, "user.xia", "h3!p", "xia\tlrs\t"); err != nil {
				t.Fatal(err)
			}
			if err := w.Delete(ctx, "user.yan"); err != nil {
				t.Fatal(err)
			}
			// NOOP flushes the master's pending changes before its OK.
			if err := f.Noop(ctx); err != nil {
				t.Fatal(err)
			}
			ucancel()
			if err := <-upd; !errors.Is(err, context.Canceled) {
				t.Fatalf("Update returned %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			var initial, live []string
			for _, ev := range events {
				switch {
				case ev.Type == mupdateclient.EventSynced:
					live = append(live, "SYNCED")
				case ev.Initial:
					initial = append(initial, ev.Name)
				case ev.Type == mupdateclient.EventDelete:
					live = append(live, "DELETE "+ev.Name)
				default:
					live = append(live, "MAILBOX "+ev.Name+" "+ev.Mailbox.Location)
				}
			}
			if len(initial) != 2 || initial[0] != "user.yan" || initial[1] != "user.zed" {
				t.Errorf("initial list %q", initial)
			}
			want := []string{"SYNCED", "MAILBOX user.xia h3!p", "DELETE user.yan"}
			if len(live) != len(want) {
				t.Fatalf("live events %q, want %q", live, want)
			}
			for i := range want {
				if live[i] != want[i] {
					t.Fatalf("live events %q, want %q", live, want)
				}
			}
		})
	}
}
