package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb/cyrusdbtest"
	"github.com/murderkit/murderkit/internal/cyrusimapd"
)

// TestInspectNotAMailboxesDB: inspect of another Cyrus twoskip database
// says that it does not look like a mailboxes.db instead of reporting
// "values: Cyrus 3.6, mailboxes: 0": the annotations.db a real Cyrus 3.6.1
// wrote for SETMETADATA, and a seen-state db written by the real
// cyr_dbtool. Exit status 3 (input), nothing on stdout. The mailboxes.db
// of the same server is still inspected as one.
func TestInspectNotAMailboxesDB(t *testing.T) {
	srv := cyrusimapd.Start(t, cyrusimapd.Options{Users: map[string]string{"alice": "alicepw"}})
	srv.Admin(t, "CREATE user.alice", "CREATE user.alice.Sent", "CREATE shared.team",
		`SETMETADATA user.alice.Sent (/shared/comment "sent mail")`,
		`SETMETADATA "" (/shared/comment "server motd")`)
	dir := t.TempDir()
	copyOut := func(name string) string {
		b, err := os.ReadFile(filepath.Join(srv.Dir, "conf", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	files := []string{copyOut("annotations.db")}

	env := cyrusdbtest.New(t)
	seen := env.Path("alice.seen")
	env.Batch(t, seen, "twoskip", []cyrusdbtest.Op{
		cyrusdbtest.Set("0dcd2f54-2a7e-4b4e-8f84-d9b6ff1ab7a2", "1 1733400000 12 1733400000 1:12"),
	})
	files = append(files, seen)
	for _, p := range files {
		out, stderr, code := run(t, "inspect", p)
		if code != 3 || out != "" || !strings.Contains(stderr, "does not look like a mailboxes.db") {
			t.Errorf("inspect %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 3, nothing on stdout, 'does not look like a mailboxes.db'", p, code, out, stderr)
		}
	}
	out, stderr, code := run(t, "inspect", copyOut("mailboxes.db"))
	if code != 0 || !strings.Contains(out, "mailboxes:  4") || !strings.Contains(out, "damage:     none") {
		t.Errorf("inspect of the same server's mailboxes.db: exit %d\n%s%s", code, out, stderr)
	}
}

// TestInspectEmptyPartition: entries with an empty partition (a MUPDATE
// location `server!`, `P ""`) are counted under a visible "" label, in a
// real twoskip file (converted from the dump and checked with cyr_dbtool).
func TestInspectEmptyPartition(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtures, "sample.twoskip.db.json"))
	if err != nil {
		t.Fatal(err)
	}
	dump := strings.Replace(string(b), `"name": "example.com!shared.support", "mtime": "1795329329", "uidvalidity": "1600000009", "createdmodseq": "1", "foldermodseq": "1", "mbtype": "e", "partition": "default"`,
		`"name": "example.com!shared.support", "mtime": "1795329329", "uidvalidity": "1600000009", "createdmodseq": "1", "foldermodseq": "1", "mbtype": "e", "partition": ""`, 1)
	if dump == string(b) {
		t.Fatal("fixture changed: no entry to give an empty partition")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "in.json")
	os.WriteFile(src, []byte(dump), 0o600)
	db := filepath.Join(dir, "mailboxes.db")
	if _, stderr, code := run(t, "convert", src, db, "--to", "twoskip"); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	for _, p := range []string{src, db} {
		out, stderr, code := run(t, "inspect", p)
		if code != 0 || !strings.Contains(out, `"" 1`) || strings.Contains(out, ",  1") || strings.Contains(out, "partition:  1") {
			t.Errorf("inspect %s: exit %d, want the empty partition as \"\" 1\n%s%s", p, code, out, stderr)
		}
	}
}
