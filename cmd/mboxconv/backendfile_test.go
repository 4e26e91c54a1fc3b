package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// registrySnapshot lists a leveldb registry: name → canonical bytes, and
// which names are live (no d flag).
func registrySnapshot(t *testing.T, url string) (map[string]string, map[string]bool) {
	t.Helper()
	st, err := registry.OpenExisting(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, live := map[string]string{}, map[string]bool{}
	if _, err := st.List(context.Background(), "", func(e registry.Entry) error {
		all[e.Name] = string(convert.Canonical(&e, false))
		live[e.Name] = !e.Type.Has(mboxlist.FlagDeleted)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return all, live
}

// A backend's own mailboxes.db, written by real Cyrus 3.6.1 with an
// ordinary history (a folder with subfolders renamed, folders deleted with
// the default delayed delete: tombstones sharing the live mailbox's
// uniqueid, DELETED.* names), imported into a registry already in use (the
// real master's file imported first):
//   - without --server it is refused (exit 7) before anything is written,
//     naming the entries and --server NAME;
//   - with --server a Cyrus tombstone never replaces a live registry
//     mailbox (here user.bob.Gone, deleted on this backend and re-created
//     on another), and the warning says so; re-running is a no-op;
//   - --lossy stores serverless entries anyway, with a warning.
func TestImportBackendFileIntoRegistryInUse(t *testing.T) {
	m := murdertest.StartMurder(t, murdertest.MurderOptions{Seed: murdertest.LabSeed, NoFrontend: true})
	m.Backend.RunSteps(t, []murdertest.Step{
		{Op: "CREATE", Args: []string{"user.alice.Projects"}},
		{Op: "CREATE", Args: []string{"user.alice.Projects.A"}},
		{Op: "CREATE", Args: []string{"user.alice.Projects.B"}},
		{Op: "RENAME", Args: []string{"user.alice.Projects", "user.alice.Archive"}},
		{User: "alice", Op: "CREATE", Args: []string{"INBOX.Old"}},
		{User: "alice", Op: "DELETE", Args: []string{"INBOX.Old"}},
		{User: "bob", Op: "CREATE", Args: []string{"INBOX.Gone"}},
		{User: "bob", Op: "DELETE", Args: []string{"INBOX.Gone"}},
	})
	backendDB := filepath.Join(m.Backend.ConfigDir, "mailboxes.db")
	masterDB := filepath.Join(m.Master.ConfigDir, "mailboxes.db")
	js, stderr, code := run(t, "dump", backendDB)
	if code != 0 {
		t.Fatalf("dump of the backend's file: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"user.alice.Projects.A": {`, `"user.bob.Gone": {`, `"mbtype": "ed"`, `"DELETED.user.alice.Old.`} {
		if !strings.Contains(js, want) {
			t.Fatalf("the backend's file lacks %s (not the history this test needs):\n%s", want, js)
		}
	}

	dir := t.TempDir()
	reg := "leveldb://" + filepath.Join(dir, "registry")
	if _, stderr, code := run(t, "import", masterDB, "--registry", reg, "--checkpoint", filepath.Join(dir, "cp0")); code != 0 {
		t.Fatalf("import of the master's file: exit %d: %s", code, stderr)
	}
	// user.bob.Gone, deleted on this backend, lives again on another one
	st, err := leveldb.Open(context.Background(), filepath.Join(dir, "registry"), nil)
	if err != nil {
		t.Fatal(err)
	}
	gone := registry.Entry{Entry: mboxlist.Entry{Name: "user.bob.Gone", Type: mboxlist.FlagRemote, Server: "backend2", Partition: "default",
		ACL: mboxlist.ACL{{ID: "bob", Rights: "lrswipkxtecdan"}}}}
	if _, err := st.Put(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before, liveBefore := registrySnapshot(t, reg)

	// 1. no --server: refused, nothing written
	for _, extra := range [][]string{nil, {"--dry-run"}, {"--bulk", "off"}} {
		args := append([]string{"import", backendDB, "--registry", reg, "--checkpoint", filepath.Join(dir, "cp1")}, extra...)
		out, stderr, code := run(t, args...)
		if code != exitcode.Lossy || out != "" || !strings.Contains(stderr, "have no server and would replace registry entries that have one") ||
			!strings.Contains(stderr, "user.alice (registry: "+m.Backend.Servername) || !strings.Contains(stderr, "--server NAME") || !strings.Contains(stderr, "nothing was written") {
			t.Errorf("%v: exit %d, want 7 naming the entries\nstdout %s\nstderr %s", args[3:], code, out, stderr)
		}
		if now, _ := registrySnapshot(t, reg); !equalMaps(now, before) {
			t.Fatalf("%v: the refused import changed the registry", args[3:])
		}
	}

	// 2. --server: imported; the tombstone of user.bob.Gone leaves the live entry alone
	args := []string{"import", backendDB, "--registry", reg, "--server", m.Backend.Servername, "--checkpoint", filepath.Join(dir, "cp2")}
	out, stderr, code := run(t, args...)
	if code != 0 || !strings.Contains(stderr, "tombstone(s) of the source (type d) left out") || !strings.Contains(stderr, "user.bob.Gone") ||
		!strings.Contains(out, "1 tombstone(s) left out") || !strings.Contains(out, "1 warning(s)") {
		t.Fatalf("import --server: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	after, liveAfter := registrySnapshot(t, reg)
	if after["user.bob.Gone"] != before["user.bob.Gone"] {
		t.Errorf("user.bob.Gone, live on backend2, was replaced by the backend's tombstone")
	}
	tombs := 0
	for n, live := range liveAfter {
		if liveBefore[n] && !live {
			t.Errorf("%s: a live registry mailbox became a tombstone", n)
		}
		if !live {
			tombs++
		}
	}
	if tombs == 0 {
		t.Error("no tombstone stored: the backend's tombstones (user.alice.Projects...) must round-trip as d entries")
	}
	if liveAfter["user.alice.Projects"] || liveAfter["user.alice.Old"] {
		t.Error("a tombstone of the backend became a live mailbox")
	}
	// 3. again: a no-op
	out, stderr, code = run(t, args...)
	if code != 0 || !strings.Contains(out, "0 created, 0 updated") {
		t.Errorf("second import --server: exit %d\n%s%s", code, out, stderr)
	}
	// 4. --lossy: stored without a server, said in a warning
	out, stderr, code = run(t, "import", backendDB, "--registry", reg, "--lossy", "--checkpoint", filepath.Join(dir, "cp3"))
	if code != 0 || !strings.Contains(stderr, "entries without a server replaced registry entries that had one") || strings.Contains(out, " 0 warning(s)") {
		t.Errorf("import --lossy: exit %d\n%s%s", code, out, stderr)
	}
	if now, _ := registrySnapshot(t, reg); now["user.bob.Gone"] != before["user.bob.Gone"] {
		t.Error("--lossy let a tombstone replace a live mailbox")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
