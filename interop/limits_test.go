package interop

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
)

// limitNames are names one byte under and at each limit of
// mboxlist.Entry.Check that a real frontend is sensitive to: the owner of
// a user.* name (the frontend's mupdate slave locks "*U*owner.lock") and
// the whole name.
func limitNames() (fit, over []string) {
	x := func(n int) string { return strings.Repeat("x", n) }
	// a shared name of exactly n bytes: components of 200 bytes
	shared := func(n int) string {
		var parts []string
		for n > 0 {
			k := min(n, 200)
			if n-k == 1 {
				k--
			}
			parts = append(parts, x(k))
			n -= k + 1
		}
		return strings.Join(parts, ".")
	}
	fit = []string{
		"user." + x(mboxlist.MaxUserIDLen),
		"user." + x(mboxlist.MaxUserIDLen) + "." + x(mboxlist.MaxNameLen-len("user.")-mboxlist.MaxUserIDLen-1),
		shared(mboxlist.MaxNameLen),
		"shared." + x(mboxlist.MaxNameLen-len("shared.")),
	}
	over = []string{
		"user." + x(mboxlist.MaxUserIDLen+1),
		"user." + x(300),
		shared(mboxlist.MaxNameLen + 1),
		"shared." + x(mboxlist.MaxNameLen-len("shared.")+1),
		"user." + x(200) + "." + x(300),
	}
	return fit, over
}

// The bridge side of the limits, with a real Cyrus 3.6.1 frontend
// following the bridge: names at the limits are stored and reach the
// frontend's IMAP LIST; one byte over, the bridge answers NO "Invalid
// mailbox name" and the frontend's mupdate slave never sees them (before
// this check it aborted on the owner of 248 bytes and crash-looped).
func TestFrontendSurvivesNamesOverCyrusLimits(t *testing.T) {
	ours := startOurs(t)
	fit, over := limitNames()
	// an entry stored before the check (an older bridge, a tool writing
	// the registry directly): left out of what the frontend is sent
	old := "user." + strings.Repeat("o", mboxlist.MaxUserIDLen+1)
	if _, err := ours.Store.Create(context.Background(), registry.Entry{Entry: mboxlist.Entry{Name: old, Type: mboxlist.FlagRemote,
		Server: "be.example", Partition: "default", ACL: mboxlist.ACL{{ID: "anyone", Rights: "lr"}}}}); err != nil {
		t.Fatal(err)
	}
	over = append(over, old)
	fe := murdertest.StartFrontend(t, ours.Addr, murdertest.Options{Name: "frontend-limits", RetryDelay: 1})
	var cmds []string
	for i, n := range fit {
		cmds = append(cmds, fmt.Sprintf(`ACTIVATE "%s" "be.example!default" "anyone	lr	"`, n))
		_ = i
	}
	for _, n := range over {
		cmds = append(cmds, fmt.Sprintf(`RESERVE "%s" "be.example!default"`, n))
		cmds = append(cmds, fmt.Sprintf(`ACTIVATE "%s" "be.example!default" "anyone	lr	"`, n))
	}
	cmds = append(cmds,
		`ACTIVATE "user.fred" "be.example!`+strings.Repeat("p", mboxlist.MaxPartitionLen+1)+`" "anyone	lr	"`,
		`ACTIVATE "user.fred" "be.example!default" "anyone	lq	"`,
	)
	got, err := rawSession(ours.Addr, "admin", "adminpw", cmds...)
	if err != nil {
		t.Fatal(err)
	}
	for i, lines := range got {
		last := lines[len(lines)-1]
		want := fmt.Sprintf("T%d OK", i)
		switch {
		case i >= len(fit)+2*len(over)+1:
			want = fmt.Sprintf(`T%d NO "%s"`, i, mboxlist.TextBadRights)
		case i >= len(fit)+2*len(over):
			want = fmt.Sprintf(`T%d NO "%s"`, i, mboxlist.TextBadPartition)
		case i >= len(fit):
			want = fmt.Sprintf(`T%d NO "%s"`, i, mboxlist.TextBadName)
		}
		if !strings.HasPrefix(last, want) {
			t.Errorf("%.70s...: %.80q, want %q", cmds[i], last, want)
		}
	}
	// A name written after the refused ones reaches the frontend too: its
	// slave is alive and following.
	if _, err := rawSession(ours.Addr, "admin", "adminpw", `ACTIVATE "user.late" "be.example!default" "anyone	lr	"`); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(fit), "user.late")
	err = murdertest.Eventually(20*time.Second, func() error {
		items, err := listAs(t, fe, "admin")
		if err != nil {
			return err
		}
		var names []string
		for _, it := range items {
			names = append(names, it.Name)
		}
		for _, n := range want {
			if !slices.Contains(names, n) {
				return fmt.Errorf("%.60q... (%d bytes) not in the frontend's LIST (%d names)", n, len(n), len(names))
			}
		}
		for _, n := range over {
			if slices.Contains(names, n) {
				return fmt.Errorf("%.60q... (%d bytes) reached the frontend", n, len(n))
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	// the entry stored before the check is deleted over MUPDATE; its
	// DELETE is not sent to the frontend either (its slave would lock the
	// owner's namespace for it)
	if got, err := rawSession(ours.Addr, "admin", "adminpw", `DELETE "`+old+`"`, `ACTIVATE "user.last" "be.example!default" "anyone	lr	"`); err != nil || !strings.HasPrefix(got[0][len(got[0])-1], "T0 OK") {
		t.Errorf("DELETE of the stored bad entry: %q, %v", got, err)
	}
	if err := murdertest.Eventually(20*time.Second, func() error {
		if _, ok := fe.Dump(t)["user.last"]; !ok {
			return fmt.Errorf("user.last never reached the frontend")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if log := fe.Log(); strings.Contains(log, "assertion failed") || strings.Contains(log, "signaled to death") {
		t.Errorf("the frontend's mupdate slave crashed:\n%s", tail(log, 3000))
	}
}

// The Cyrus side of the owner limit, which is what makes it a limit:
//
//   - a real Cyrus 3.6.1 master stores a user.* name whose owner has
//     MaxUserIDLen bytes, and its mupdate process aborts (assertion
//     user_isnamespacelocked) on one byte more;
//   - a real frontend fed by murder-bridge's MUPDATE server on a list that
//     checks nothing (as the bridge was before the check) stores the first
//     and its mupdate slave aborts on the second.
//
// If a Cyrus version moved the limit, this test says so.
func TestCyrusOwnerLimitIsReal(t *testing.T) {
	fits := "user." + strings.Repeat("x", mboxlist.MaxUserIDLen)
	over := "user." + strings.Repeat("x", mboxlist.MaxUserIDLen+1)
	activate := func(n string) string { return `ACTIVATE "` + n + `" "be.example!default" "anyone	lr	"` }

	master := murdertest.StartMaster(t, murdertest.Options{})
	got, err := rawSession(master.MupdateAddr, "admin", "adminpw", activate(fits))
	if err != nil || !strings.HasPrefix(got[0][len(got[0])-1], "T0 OK") {
		t.Fatalf("real master, owner of %d bytes: %q %v", mboxlist.MaxUserIDLen, got, err)
	}
	if _, err := rawSession(master.MupdateAddr, "admin", "adminpw", activate(over)); err == nil {
		t.Errorf("real master took an owner of %d bytes: Cyrus's limit moved?", mboxlist.MaxUserIDLen+1)
	}
	if !master.WaitLog("user_isnamespacelocked", 10*time.Second) {
		t.Errorf("real master: no assertion on an owner of %d bytes:\n%s", mboxlist.MaxUserIDLen+1, tail(master.Log(), 2000))
	}

	// murder-bridge's MUPDATE server on an in-memory list, which checks
	// nothing (the bridge's Adapter refuses and filters these names)
	mem := memory.New(nil)
	auth, err := creds.Parse(strings.NewReader("murder:murderpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mupdateserver.New(mupdateserver.Config{Backend: mem, Auth: auth, FailedLoginPause: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	go srv.Serve(sctx, ln)
	t.Cleanup(func() { scancel(); srv.Close() })
	fe := murdertest.StartFrontend(t, ln.Addr().String(), murdertest.Options{Name: "frontend-owner-limit", RetryDelay: 1})
	put := func(n string) {
		if err := mem.Write(context.Background(), mupdate.Request{Op: mupdate.OpActivate, Name: n, Location: "be.example!default", ACL: "anyone\tlr\t"}); err != nil {
			t.Fatal(err)
		}
	}
	put(fits)
	if err := murdertest.Eventually(20*time.Second, func() error {
		if _, ok := fe.Dump(t)[fits]; !ok {
			return fmt.Errorf("the owner of %d bytes never reached the frontend's mailboxes.db", mboxlist.MaxUserIDLen)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if log := fe.Log(); strings.Contains(log, "assertion failed") {
		t.Fatalf("the frontend aborted on an owner of %d bytes:\n%s", mboxlist.MaxUserIDLen, tail(log, 2000))
	}
	put(over)
	if !fe.WaitLog("user_isnamespacelocked", 30*time.Second) {
		t.Errorf("the frontend did not abort on an owner of %d bytes; Cyrus's limit moved?\n%s", mboxlist.MaxUserIDLen+1, tail(fe.Log(), 2000))
	}
	if _, ok := fe.Dump(t)[over]; ok {
		t.Errorf("the frontend stored the owner of %d bytes", mboxlist.MaxUserIDLen+1)
	}
}

// The whole-name and owner limits on a real Cyrus 3.6.1 backend: an
// admin's CREATE of a name at each limit works, one byte over fails (the
// owner one byte over makes imapd abort, so it comes last). A single
// component of 483 bytes is fine: 3.6 keeps mailboxes and their locks
// under their uniqueid, so no file is named after a component.
func TestCyrusBackendNameLimitsAreReal(t *testing.T) {
	be := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true, Name: "backend-limits"})
	admin := be.IMAPAs(t, "admin")
	fit, over := limitNames()
	for _, n := range fit {
		if err := admin.Create(n); err != nil {
			t.Errorf("CREATE of %d bytes (%.40s...): %v", len(n), n, err)
		}
	}
	for _, n := range over[2:4] {
		if err := admin.Create(n); err == nil {
			t.Errorf("CREATE of %d bytes (%.40s...) worked: Cyrus's limit moved?", len(n), n)
		}
	}
	if err := admin.Create(over[0]); err == nil {
		t.Errorf("CREATE of an owner of %d bytes worked", mboxlist.MaxUserIDLen+1)
	}
	if !be.WaitLog("user_isnamespacelocked", 10*time.Second) {
		t.Errorf("the backend did not abort on an owner of %d bytes; Cyrus's limit moved?", mboxlist.MaxUserIDLen+1)
	}
}
