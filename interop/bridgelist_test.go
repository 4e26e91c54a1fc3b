package interop

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// While a bridge owns a leveldb registry, `mboxconv verify --bridge` and
// `mboxconv export --bridge` read it through the bridge's HTTP API
// (GET /v1/mailboxes, which needs the bridge's token): verify finds the
// registry equal to the file it was imported from (a Cyrus-made file with
// tombstones, a name history, remote, reserved, moving and ACL-less
// entries), the exported twoskip files (whole and one slot) are equal to
// what the same export gives with the bridge stopped, real Cyrus's
// cyr_dbtool calls them consistent, and scripts/rollback-slot.sh works
// with the bridge's URL. A direct open of the registry meanwhile is
// refused with a hint naming --bridge.
func TestVerifyExportThroughBridge(t *testing.T) {
	mc := mboxconvBinary(t)
	dir := t.TempDir()
	src, err := filepath.Abs("../testdata/types.twoskip.db")
	if err != nil {
		t.Fatal(err)
	}
	regDir := filepath.Join(dir, "registry")
	reg := "leveldb://" + regDir
	if code, out := runBin(t, time.Minute, mc, "import", src, "--registry", reg); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, out)
	}
	mb := murderBridgeBinary(t)
	if code, out := runBin(t, time.Minute, mb, "slot", "define", "be2", "--location", "backend2", "--state", "mirrored", "--registry", reg); code != 0 {
		t.Fatalf("slot define: exit %d\n%s", code, out)
	}
	// the same exports with the registry itself, before the bridge owns it
	for _, a := range [][]string{{"direct-all.db"}, {"direct-be2.db", "--slot", "be2"}} {
		args := append([]string{"export", "--registry", reg, filepath.Join(dir, a[0]), "--to", "twoskip"}, a[1:]...)
		if code, out := runBin(t, time.Minute, mc, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}

	cred := filepath.Join(dir, "credentials")
	os.WriteFile(cred, []byte("murder:murderpw\n"), 0o600)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("list-token\n"), 0o600)
	wrongToken := filepath.Join(dir, "wrong-token")
	os.WriteFile(wrongToken, []byte("not-it\n"), 0o600)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	listen := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	startServe(t, "--registry", reg, "--data-dir", dir, "--listen", listen, "--credentials", cred,
		"--http", httpAddr, "--http-token-file", token)
	api := "http://" + httpAddr
	if err := murdertest.Eventually(20*time.Second, func() error {
		r, err := http.Get(api + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// the registry is owned: a direct read is refused and says what to do
	code, out := runBin(t, time.Minute, mc, "verify", src, reg)
	if code != 5 || !strings.Contains(out, "locked by another process") || !strings.Contains(out, "reach it with --bridge URL") {
		t.Errorf("verify of the owned registry: exit %d\n%s", code, out)
	}
	// the whole registry is sensitive: no token is a usage error naming
	// --token-file, a wrong token refused by the bridge
	if code, out := runBin(t, time.Minute, mc, "verify", src, "--bridge", api); code != 2 || !strings.Contains(out, "--token-file") {
		t.Errorf("verify --bridge without --token-file: exit %d, want 2\n%s", code, out)
	}
	for _, tok := range [][]string{{"--token-file", wrongToken}} {
		code, out := runBin(t, time.Minute, mc, append([]string{"verify", src, "--bridge", api}, tok...)...)
		if code != 5 || !strings.Contains(out, "401") || !strings.Contains(out, "Bearer") {
			t.Errorf("verify --bridge with token %v: exit %d, want 5 (401)\n%s", tok, code, out)
		}
	}
	code, out = runBin(t, time.Minute, mc, "verify", src, "--bridge", api, "--token-file", token)
	if code != 0 || !strings.Contains(out, "equal: 29 mailboxes") {
		t.Fatalf("verify --bridge: exit %d\n%s", code, out)
	}

	c := cyrustest.NewConfig(t)
	for _, x := range []struct {
		name, direct string
		extra        []string
	}{{"bridge-all.db", "direct-all.db", nil}, {"bridge-be2.db", "direct-be2.db", []string{"--slot", "be2"}}} {
		dst := filepath.Join(dir, x.name)
		args := append([]string{"export", "--bridge", api, "--token-file", token, dst, "--to", "twoskip"}, x.extra...)
		if code, out := runBin(t, time.Minute, mc, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
		if code, out := runBin(t, time.Minute, mc, "verify", "--mtime", dst, filepath.Join(dir, x.direct)); code != 0 {
			t.Errorf("%s differs from the export made without the bridge: exit %d\n%s", x.name, code, out)
		}
		if x.extra == nil {
			if code, out := runBin(t, time.Minute, mc, "verify", dst, src); code != 0 {
				t.Errorf("%s differs from the imported file: exit %d\n%s", x.name, code, out)
			}
		} else if code, out := runBin(t, time.Minute, mc, "dump", dst); code != 0 || strings.Count(out, `"server": "backend2"`) != 2 || strings.Contains(out, `"user.tom"`) {
			t.Errorf("the slot's export holds other entries: exit %d\n%s", code, out)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(c.ConfigDir, x.name)
		os.WriteFile(cp, b, 0o600)
		if err := cyrustest.Chown(cp); err != nil {
			t.Fatal(err)
		}
		if out := c.MustRun(t, "cyr_dbtool", cp, "twoskip", "consistent"); !strings.Contains(string(out), "Yes, consistent") {
			t.Errorf("cyr_dbtool consistent on %s: %s", x.name, out)
		}
	}

	// scripts/rollback-slot.sh through the bridge
	outDir := filepath.Join(dir, "rollback")
	cmd := []string{"sh", "../scripts/rollback-slot.sh", "be2", api, outDir, "backend2"}
	env := append(os.Environ(), "MBOXCONV="+mc, "TOKEN_FILE="+token)
	if code, out := runEnv(t, env, cmd...); code != 0 {
		t.Fatalf("rollback-slot.sh with the bridge's URL: exit %d\n%s", code, out)
	}
	if code, out := runBin(t, time.Minute, mc, "verify", filepath.Join(outDir, "master-mailboxes.db"), src); code != 0 {
		t.Errorf("rollback-slot.sh's master file: exit %d\n%s", code, out)
	}
	// and with a mistyped registry path: an error, and no file written
	badOut := filepath.Join(dir, "rollback-typo")
	code, out = runEnv(t, env, "sh", "../scripts/rollback-slot.sh", "be2", "leveldb://"+filepath.Join(dir, "registy"), badOut)
	if code != 5 || !strings.Contains(out, "no leveldb registry at") {
		t.Errorf("rollback-slot.sh with a mistyped registry: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(badOut); err == nil {
		t.Errorf("rollback-slot.sh wrote %s for a registry that does not exist", badOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "registy")); err == nil {
		t.Error("rollback-slot.sh created the mistyped registry")
	}
}

// runEnv runs a command with env and returns its exit status and output.
func runEnv(t *testing.T, env []string, argv ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return exitCode(err), string(out)
}
