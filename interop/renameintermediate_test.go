package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// The difference `make twins` seed 23 found on Cyrus 3.2.6 (docs/twins.md):
// a 3.2.6 backend fills a gap in a CREATE with an intermediate mailbox it
// does not tell its MUPDATE master about; a RENAME of the tree then sends
// the master a DELETE of that intermediate. Cyrus's own master dies of
// SIGSEGV on a DELETE of a name it does not hold (mupdate.c cmd_set reads
// the entry it did not find), so the RENAME fails with "no connection to
// server"; murder-bridge answers that DELETE with NO "mailbox doesn't
// exist", the answer Cyrus's code means to give, so the RENAME fails
// with "the mupdate operation failed" at the same mailbox. Both murders
// stop at the same mailbox and hold the same names afterwards.
func TestRenameIntermediate32(t *testing.T) {
	rel := cyrustest.ReleaseOf(t, "3.2")
	master := murdertest.StartMaster(t, murdertest.Options{Release: rel})

	dir := t.TempDir()
	cf := filepath.Join(dir, "credentials")
	if err := os.WriteFile(cf, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bridgeAddr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	startServe(t, "--registry", "leveldb://"+filepath.Join(dir, "registry"), "--data-dir", dir,
		"--listen", bridgeAddr, "--credentials", cf, "--admins", "murder,admin", "--servername", "master.murdertest")
	waitGreeting(t, bridgeAddr)

	pw := murdertest.DefaultUsers["admin"]
	for _, c := range []struct {
		name, mupdate, want string
	}{
		{"cyrus-master", master.MupdateAddr, "NO no connection to server"},
		{"murder-bridge", bridgeAddr, "NO the mupdate operation failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			be := murdertest.StartBackend(t, c.mupdate, murdertest.Options{Name: "ri-" + c.name, Release: rel})
			// user.erin.b.Archive is the gap CREATE fills
			res, err := imapEach(be.IMAPAddr, "admin", pw, []string{`CREATE "user.erin"`, `CREATE "user.erin.b"`, `CREATE "user.erin.b.Archive.2026"`,
				`RENAME "user.erin.b" "user.erin.c"`})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res[:3] {
				if r.status[:2] != "OK" {
					t.Fatalf("CREATEs: %+v", res)
				}
			}
			got := res[3].status
			t.Logf("%s: RENAME: %q %q", c.name, res[3].untagged, got)
			if got != c.want {
				t.Errorf("RENAME on a backend of %s: %q, want %q (untagged %q)", c.name, got, c.want, res[3].untagged)
			}
			if c.name == "cyrus-master" && !master.WaitLog("signaled to death by signal 11", 10*time.Second) {
				t.Errorf("Cyrus 3.2.6's mupdate did not die of SIGSEGV:\n%s", tail(master.Log(), 3000))
			}
		})
	}
}
