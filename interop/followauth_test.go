package interop

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// TestFollowWrongPassword: `murder-bridge serve --follow` with a wrong
// --follow-password-file against a real Cyrus master says that the master
// refused the credentials (not "connection lost"), retries at the longest
// backoff (one attempt, not one every half second), and /readyz and
// /v1/status name the cause.
func TestFollowWrongPassword(t *testing.T) {
	master := murdertest.StartMaster(t, murdertest.Options{})
	dir := t.TempDir()
	cf := filepath.Join(dir, "credentials")
	pw := filepath.Join(dir, "master-password")
	os.WriteFile(cf, []byte("murder:murderpw\n"), 0o600)
	os.WriteFile(pw, []byte("not-murders-password\n"), 0o600)
	tokenFile := filepath.Join(dir, "http-token")
	os.WriteFile(tokenFile, []byte("follow-auth-token\n"), 0o600)
	httpA := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	p := startServe(t, "--registry", "leveldb://"+filepath.Join(dir, "registry"), "--listen", fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t)),
		"--credentials", cf, "--follow", master.MupdateAddr, "--follow-user", "murder", "--follow-password-file", pw,
		"--follow-mech", "PLAIN", "--http", httpA, "--http-token-file", tokenFile)

	var rd httpapi.Readiness
	var code int
	err := murdertest.Eventually(30*time.Second, func() error {
		r, err := http.Get("http://" + httpA + "/readyz")
		if err != nil {
			return err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		code = r.StatusCode
		rd = httpapi.Readiness{}
		if err := json.Unmarshal(b, &rd); err != nil {
			return fmt.Errorf("readyz %q: %v", b, err)
		}
		if rd.Follow == nil || !rd.Follow.AuthRefused {
			return fmt.Errorf("not refused yet: %s", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reasons := strings.Join(rd.Reasons, "; ")
	if code != http.StatusServiceUnavailable || !strings.Contains(reasons, "the master refused murder's credentials") || !strings.Contains(reasons, "--follow-password-file") {
		t.Errorf("/readyz %d, reasons %q: want 503 naming the refused credentials and the flag", code, reasons)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+httpA+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer follow-auth-token")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(b), `"auth_refused":true`) || !strings.Contains(string(b), "refused murder's credentials") {
		t.Errorf("/v1/status does not show the refusal: %s", b)
	}
	// not a synchronisation: a retry loop (one attempt every half second)
	// would show within these seconds, which is what is tested below
	time.Sleep(3 * time.Second)
	logs := p.out.String()
	if !strings.Contains(logs, "the master refused murder's credentials: check --follow-user/--follow-password-file") {
		t.Errorf("the log does not name the cause:\n%s", logs)
	}
	if strings.Contains(logs, "connection to the master lost") {
		t.Errorf("an authentication refusal is logged as a lost connection:\n%s", logs)
	}
	// longest backoff (30 s by default): one attempt so far, not a retry loop
	if n := strings.Count(logs, "level=ERROR msg=\"follow: the master refused"); n != 1 {
		t.Errorf("%d refusals logged within seconds: no backoff\n%s", n, logs)
	}
	if c := p.term(t); c != 0 {
		t.Errorf("SIGTERM: exit %d", c)
	}
}
