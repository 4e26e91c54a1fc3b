package interop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
)

// xferBackend is a backend that can send and receive XFER: it proxies to
// the other backend as "murder" (proxy_authname), and "murder" is one of
// its admins (the destination runs the replication commands for it);
// allowusermoves lets XFER move a user (without it Cyrus answers "* NO
// USER" and a tagged OK).
func xferBackend(name string, rel cyrustest.Release) murdertest.Options {
	return murdertest.Options{Name: name, Release: rel, Admins: []string{"murder"},
		Extra: []string{"proxy_authname: murder", "proxy_password: murderpw", "allowusermoves: yes"}}
}

// xferMessages is what alice holds before the move: mailbox → messages.
var xferMessages = map[string]int{"INBOX": 3, "INBOX.Sent": 2, "INBOX.Trash": 0, "INBOX.Proj": 1, "INBOX.Proj.a": 1}

func xferMessage(i int, box string) string {
	return fmt.Sprintf("From: alice@murdertest\r\nTo: bob@murdertest\r\nSubject: %s %d\r\nMessage-ID: <%d.%s@murdertest>\r\n\r\nbody %d\r\n", box, i, i, box, i)
}

// XFER of a user between two real backends while the bridge follows the
// real master: with both backends in one slot, mirrored (the backends still
// talk to the master) and cut over (they talk to the bridge, which writes
// through to the master); and across slots: out of a cut-over slot to a
// backend the master still owns, and into a cut-over slot from one.
// Afterwards the registry, the master's mailboxes.db and the frontend's LIST
// (its slave follows the bridge) all have the user's mailboxes on the
// destination, every message is there through the frontend, and the source
// backend has none of them left. Master, backends and frontend are real
// Cyrus of one release: each of releaseChecks (3.6.1 in `make test`; `make
// release-checks` adds 3.2.6, 3.10.2 and 3.12.4).
func TestXferBetweenBackends(t *testing.T) {
	for _, v := range releaseChecks(t) {
		t.Run(v, func(t *testing.T) {
			rel := cyrustest.ReleaseOf(t, v)
			for _, c := range []xferCase{
				{"mirrored", registry.SlotMirrored, registry.SlotMirrored},
				{"cutover", registry.SlotCutover, registry.SlotCutover},
				{"out-of-cutover", registry.SlotCutover, registry.SlotMirrored},
				{"into-cutover", registry.SlotMirrored, registry.SlotCutover},
			} {
				t.Run(c.name, func(t *testing.T) { xferInSlot(t, rel, c) })
			}
		})
	}
}

// xferCase puts the source backend (be1) and the destination (be2) in
// slots s1 and s2 (one slot s1 when both states are the same).
type xferCase struct {
	name     string
	src, dst registry.SlotState
}

func xferInSlot(t *testing.T, rel cyrustest.Release, c xferCase) {
	master := murdertest.StartMaster(t, murdertest.Options{Release: rel})
	be1 := murdertest.StartBackend(t, master.MupdateAddr, xferBackend("xfer-be1", rel))
	be2 := murdertest.StartBackend(t, master.MupdateAddr, xferBackend("xfer-be2", rel))
	be1.RunSteps(t, append(slices.Clone(murdertest.LabSeed),
		murdertest.Step{User: "alice", Op: "CREATE", Args: []string{"INBOX.Proj"}},
		murdertest.Step{User: "alice", Op: "CREATE", Args: []string{"INBOX.Proj.a"}},
		murdertest.Step{User: "alice", Op: "SETACL", Args: []string{"INBOX.Proj", "bob", "lrs"}},
	))
	be2.RunSteps(t, []murdertest.Step{{Op: "CREATE", Args: []string{"user.carol"}}})
	alice := be1.IMAPAs(t, "alice")
	for box, n := range xferMessages {
		for i := range n {
			if err := alice.Append(box, xferMessage(i, box)); err != nil {
				t.Fatal(err)
			}
		}
	}
	alice.Close()

	b := startCutoverBridge(t, t.TempDir(), "", master.MupdateAddr)
	b.waitSynced(t, 20*time.Second)
	ctx := context.Background()
	slots := map[string][]*murdertest.Instance{"s1": {be1, be2}}
	states := map[string]registry.SlotState{"s1": c.src}
	if c.src != c.dst {
		slots = map[string][]*murdertest.Instance{"s1": {be1}, "s2": {be2}}
		states["s2"] = c.dst
	}
	for name, bes := range slots {
		slot := registry.Slot{Name: name, State: registry.SlotMirrored}
		for _, be := range bes {
			slot.Locations = append(slot.Locations, registry.ParseLocation(be.Servername))
		}
		if _, err := b.Store.CreateSlot(ctx, slot); err != nil {
			t.Fatal(err)
		}
		if states[name] == registry.SlotCutover {
			setSlotState(t, b.Store, name, registry.SlotShadowClean)
			setSlotState(t, b.Store, name, registry.SlotCutover)
			for _, be := range bes {
				be.Join(t, b.Addr)
			}
		}
	}
	fe := murdertest.StartFrontend(t, b.Addr, murdertest.Options{Name: "xfer-fe", Release: rel, Serverlist: []string{be1.Servername, be2.Servername}})
	wantNames := []string{"INBOX", "INBOX.Proj", "INBOX.Proj.a", "INBOX.Sent", "INBOX.Trash", "shared", "shared.lab"}
	listFrontend(t, fe, "alice", "*", wantNames)

	lines, err := murdertest.RawIMAP(be1.IMAPAddr, "admin", "adminpw", "XFER user.alice "+be2.Servername)
	if err == nil && (len(lines) == 0 || !slices.Contains(lines[len(lines)-1], "* OK USER alice")) {
		err = fmt.Errorf("no \"* OK USER alice\"")
	}
	if err != nil {
		t.Fatalf("XFER user.alice %s: %v\n%s\nsource syslog:\n%s\ndestination syslog:\n%s", be2.Servername, err,
			strings.Join(slices.Concat(lines...), "\n"), be1.Log(), be2.Log())
	}

	// the registry: alice's mailboxes on be2, nothing else moved
	alices := []string{"user.alice", "user.alice.Proj", "user.alice.Proj.a", "user.alice.Sent", "user.alice.Trash"}
	if err := murdertest.Eventually(20*time.Second, func() error {
		for _, n := range alices {
			e, err := b.Store.Get(ctx, n)
			if err != nil {
				return fmt.Errorf("%s: %v", n, err)
			}
			if e.Server != be2.Servername {
				return fmt.Errorf("registry %s on %q, want %s", n, e.Primary().String(), be2.Servername)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for n, srv := range map[string]string{"user.bob": be1.Servername, "shared.lab": be1.Servername, "user.carol": be2.Servername} {
		if e, err := b.Store.Get(ctx, n); err != nil || e.Server != srv {
			t.Errorf("registry %s = %+v (%v), want it on %s still", n, e, err, srv)
		}
	}
	// the master: the same as the registry (it saw the XFER itself, or
	// through the write-through)
	if got := xferMasterEqualsRegistry(t, rel, master, b); got != "lrs" {
		t.Errorf("user.alice.Proj's ACL for bob after the move = %q, want lrs", got)
	}
	const activate = " op=ACTIVATE name=user.alice dur="
	var moved bool
	for _, l := range strings.Split(b.Logs.String(), "\n") {
		if strings.Contains(l, `msg="mupdate write"`) && strings.Contains(l, activate) && strings.Contains(l, "location="+be2.Servername+"!default") && strings.Contains(l, "result=OK") {
			moved = true
		}
	}
	switch c.src {
	case registry.SlotCutover:
		// the source's DEACTIVATE came to the bridge (and was written
		// through to the master)
		if !strings.Contains(b.Logs.String(), "op=DEACTIVATE name=user.alice dur=") {
			t.Errorf("the bridge logged no DEACTIVATE of user.alice from the source")
		}
	}
	switch c.dst {
	case registry.SlotCutover:
		// the destination's ACTIVATE at its location came to the bridge,
		// which wrote it through to the master
		if !moved {
			t.Errorf("the bridge logged no ACTIVATE of user.alice to %s!default", be2.Servername)
		}
		if s := b.WT.Status(); s.Rejected != 0 || b.WT.Queued() != 0 {
			t.Errorf("write-through after XFER: %+v", s)
		}
	default:
		// the destination told the master; the bridge followed
		if moved {
			t.Errorf("the destination sent its ACTIVATE to the bridge, not to the master")
		}
	}
	// the backends: alice's mailboxes live only on be2
	d1, d2 := xferDump(t, be1), xferDump(t, be2)
	for _, n := range alices {
		// the source keeps a tombstone (MBTYPE_DELETED), or nothing
		if e, ok := d1[n]; ok && !tombstone(e) {
			t.Errorf("%s is still live in the source's mailboxes.db: %+v", n, e)
		}
		if _, ok := d2[n]; !ok {
			t.Errorf("%s is not in the destination's mailboxes.db", n)
		}
	}
	// the frontend: same names, every message, SELECT proxied to be2
	listFrontend(t, fe, "alice", "*", wantNames)
	s := fe.IMAPAs(t, "alice")
	for box, n := range xferMessages {
		got, err := s.Select(box)
		if err != nil || got != uint32(n) {
			t.Errorf("SELECT %s through the frontend: %d messages (%v), want %d", box, got, err, n)
		}
	}
	if err := s.Create("INBOX.AfterXfer"); err != nil {
		t.Errorf("CREATE after the move: %v", err)
	} else if err := murdertest.Eventually(10*time.Second, func() error {
		e, err := b.Store.Get(ctx, "user.alice.AfterXfer")
		if err != nil || e.Server != be2.Servername {
			return fmt.Errorf("registry user.alice.AfterXfer = %+v (%v), want it on %s", e, err, be2.Servername)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	xferMasterEqualsRegistry(t, rel, master, b)
}

// xferDump is a backend's mailboxes.db as its release's `ctl_mboxlist -d`
// prints it (3.2's lines or the JSON of 3.6 and later: parseCyrusDump).
func xferDump(t *testing.T, be *murdertest.Instance) map[string]dumpEntry {
	t.Helper()
	d, err := parseCyrusDump(be.CtlMboxlist(t, "-d"))
	if err != nil {
		t.Fatalf("%s: %v", be.Name, err)
	}
	return d
}

// xferMasterEqualsRegistry waits until the master holds what the registry
// does and returns bob's rights on user.alice.Proj there. For 3.6 and later
// the master's mailboxes.db is compared with the registry
// (masterEqualsRegistry); 3.2's `ctl_mboxlist -d` has no JSON, so there
// the master's MUPDATE LIST is compared with the bridge's, which it serves
// from the registry.
func xferMasterEqualsRegistry(t *testing.T, rel cyrustest.Release, master *murdertest.Instance, b *cutoverBridge) string {
	t.Helper()
	if rel.Version != "3.2" {
		return masterEqualsRegistry(t, master, b.Store, 20*time.Second)["user.alice.Proj"].ACL["bob"]
	}
	ctx := context.Background()
	var d string
	var m map[string]mupdate.Mailbox
	murdertest.Eventually(20*time.Second, func() error {
		m = listAll(ctx, t, master.MupdateAddr)
		if d = cmp.Diff(m, listAll(ctx, t, b.Addr)); d != "" {
			return errors.New("differs")
		}
		return nil
	})
	if d != "" {
		t.Fatalf("old master LIST (-) vs bridge LIST (+):\n%s", d)
	}
	f := strings.Split(m["user.alice.Proj"].ACL, "\t")
	for i := 0; i+1 < len(f); i += 2 {
		if f[i] == "bob" {
			return f[i+1]
		}
	}
	return ""
}
