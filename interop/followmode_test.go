package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// followRecord is what the master's mailboxes.db and the registry must
// agree on: name, type, location and ACL.
type followRecord struct {
	MBType   string
	Location string
	ACL      map[string]string
}

func masterRecords(t *testing.T, m *murdertest.Murder) map[string]followRecord {
	t.Helper()
	out := map[string]followRecord{}
	for n, e := range m.Master.Dump(t) {
		acl := e.ACL
		if acl == nil {
			acl = map[string]string{}
		}
		out[n] = followRecord{MBType: e.MBType, Location: e.Location(), ACL: acl}
	}
	return out
}

func registryRecords(t *testing.T, st registry.Store) map[string]followRecord {
	t.Helper()
	out := map[string]followRecord{}
	_, err := st.List(context.Background(), "", func(e registry.Entry) error {
		acl := map[string]string{}
		for _, it := range e.ACL {
			acl[it.ID] = it.Rights
		}
		out[e.Name] = followRecord{MBType: e.Type.String(), Location: e.Primary().String(), ACL: acl}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// burst is a run of real changes through the real backend: a folder with
// 50 subfolders is created and renamed twice (cyrus-imapd #5926: a rename
// of a tree is one MUPDATE DELETE+RESERVE+ACTIVATE per mailbox), ACLs are
// set, mailboxes deleted (3.6's delayed delete publishes DELETED.*).
func burst() []murdertest.Step {
	var s []murdertest.Step
	s = append(s, murdertest.Step{User: "alice", Op: "CREATE", Args: []string{"INBOX.Big"}})
	for i := range 50 {
		s = append(s, murdertest.Step{User: "alice", Op: "CREATE", Args: []string{fmt.Sprintf("INBOX.Big.f%02d", i)}})
	}
	s = append(s,
		murdertest.Step{User: "alice", Op: "SETACL", Args: []string{"INBOX.Big.f07", "bob", "lrs"}},
		murdertest.Step{User: "bob", Op: "CREATE", Args: []string{"INBOX.Drafts"}},
		murdertest.Step{User: "alice", Op: "RENAME", Args: []string{"INBOX.Big", "INBOX.Moved"}},
		murdertest.Step{User: "bob", Op: "SETACL", Args: []string{"INBOX.Drafts", "alice", "lr"}},
		murdertest.Step{Op: "CREATE", Args: []string{"shared.team"}},
		murdertest.Step{Op: "SETACL", Args: []string{"shared.team", "anyone", "lrs"}},
		murdertest.Step{Op: "SETACL", Args: []string{"shared.team", "-bob", "l"}},
		murdertest.Step{User: "alice", Op: "DELETE", Args: []string{"INBOX.Moved.f03"}},
		murdertest.Step{User: "alice", Op: "RENAME", Args: []string{"INBOX.Moved", "INBOX.Again"}},
		murdertest.Step{User: "alice", Op: "DELETE", Args: []string{"INBOX.Trash"}},
		murdertest.Step{Op: "SETACL", Args: []string{"user.alice.Again.f11", "carol", "lr"}},
		murdertest.Step{Op: "SETACL", Args: []string{"shared.lab", "admin", "lrswipkxtecda"}},
		murdertest.Step{Op: "DELETE", Args: []string{"shared.lab"}},
		murdertest.Step{User: "bob", Op: "CREATE", Args: []string{"INBOX.Late"}},
	)
	return s
}

// runBurst runs steps over IMAP (one session per user) and reports the
// first failure; progress counts the steps done.
func runBurst(in *murdertest.Instance, steps []murdertest.Step, progress chan<- int) error {
	sessions := map[string]*murdertest.IMAP{}
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	for i, st := range steps {
		u := st.User
		if u == "" {
			u = "admin"
		}
		s := sessions[u]
		if s == nil {
			var err error
			s, err = murdertest.DialIMAP(in.IMAPAddr, u, in.Users[u])
			if err != nil {
				return err
			}
			sessions[u] = s
		}
		if err := s.Do(st); err != nil {
			return fmt.Errorf("step %d %v as %s: %w", i, st, u, err)
		}
		if progress != nil {
			select {
			case progress <- i + 1:
			default:
			}
		}
	}
	return nil
}

// httpGet GETs u; a token, if given, is sent as the bearer token (the
// bridge's /v1 reads need it).
func httpGet(u string, token ...string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	if len(token) > 0 {
		req.Header.Set("Authorization", "Bearer "+token[0])
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b), nil
}

// Issue 5, proof 2: `murder-bridge serve --follow` (settings read from the
// real backend's imapd.conf) mirrors a real Cyrus master; after a burst of
// real changes, during which the bridge is killed with SIGKILL and
// restarted, the registry equals the master's mailboxes.db (name, type,
// location, ACL). While following, a MUPDATE write through the bridge is
// refused and reads are served from the registry; /readyz and /metrics
// report the follow lag.
func TestBridgeFollowsRealMasterThroughKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m := murdertest.StartMurder(t, murdertest.MurderOptions{Seed: murdertest.LabSeed, NoFrontend: true})

	dir := t.TempDir()
	credFile := filepath.Join(dir, "credentials")
	if err := os.WriteFile(credFile, []byte("murder:murderpw\nadmin:adminpw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := "leveldb://" + filepath.Join(dir, "registry")
	listen := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	const apiToken = "follow-api-token"
	tokenFile := filepath.Join(dir, "http-token")
	if err := os.WriteFile(tokenFile, []byte(apiToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--registry", reg, "--data-dir", dir, "--listen", listen, "--credentials", credFile, "--admins", "murder,admin",
		"--imapd-conf", m.Backend.Conf, "--http", httpAddr, "--http-token-file", tokenFile}
	p := startServe(t, args...)
	waitGreeting(t, listen)
	ready := func(within time.Duration) {
		t.Helper()
		if err := murdertest.Eventually(within, func() error {
			code, body, err := httpGet("http://" + httpAddr + "/readyz")
			if err != nil || code != 200 {
				return fmt.Errorf("/readyz %d %s %v", code, body, err)
			}
			return nil
		}); err != nil {
			t.Fatalf("bridge never ready: %v\n%s", err, p.out.String())
		}
	}
	ready(20 * time.Second)
	if diff := cmp.Diff(listAll(ctx, t, m.MupdateAddr), listAll(ctx, t, listen)); diff != "" {
		t.Fatalf("after the first full list, master LIST (-) vs bridge LIST (+):\n%s", diff)
	}

	// a write through the following bridge is refused with a clear NO
	c, err := mupdateclient.Dial(ctx, listen, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(ctx, "murder", "murderpw", "PLAIN"); err != nil {
		t.Fatal(err)
	}
	err = c.Activate(ctx, "user.alice.Hijack", m.Backend.Servername+"!default", "alice\tlrswipkxtecdan\t")
	var se *mupdateclient.StatusError
	if !errors.As(err, &se) || se.Kind != "NO" || !strings.Contains(se.Text, m.MupdateAddr) {
		t.Errorf("ACTIVATE through a following bridge = %v, want NO naming the master", err)
	}
	c.Close()

	// the burst, with a SIGKILL of the bridge in the middle of it: first
	// the folder and its 50 subfolders, until the bridge holds them (Cyrus
	// flushes every 5 s), so that the restart must delete what the renames
	// make vanish; then the rest, killing the bridge during the rename
	steps := burst()
	if err := runBurst(m.Backend, steps[:51], nil); err != nil {
		t.Fatal(err)
	}
	if err := murdertest.Eventually(20*time.Second, func() error {
		if _, ok := listAll(ctx, t, listen)["user.alice.Big.f49"]; !ok {
			return errors.New("not yet")
		}
		return nil
	}); err != nil {
		_, st, _ := httpGet("http://"+httpAddr+"/v1/status", apiToken)
		t.Fatalf("the bridge never received user.alice.Big.f49; status %s", st)
	}
	progress := make(chan int, len(steps))
	burstErr := make(chan error, 1)
	go func() { burstErr <- runBurst(m.Backend, steps[51:], progress) }()
	for n := 0; n < 2; { // SETACL, CREATE done: the RENAME of 51 mailboxes runs
		select {
		case n = <-progress:
		case err := <-burstErr:
			t.Fatalf("burst ended early: %v", err)
		case <-ctx.Done():
			t.Fatal("burst too slow")
		}
	}
	time.Sleep(200 * time.Millisecond) // the kill lands inside the RENAME: the thing tested
	p.cmd.Process.Kill()
	<-p.done
	p.done <- nil
	t.Log("bridge killed (SIGKILL) mid-burst; restarting")
	time.Sleep(300 * time.Millisecond) // the bridge stays down a while: the backend's writes meet a closed port
	p2 := startServe(t, args...)
	waitGreeting(t, listen)
	if err := <-burstErr; err != nil {
		t.Fatalf("burst: %v\nbackend syslog:\n%s", err, m.Backend.Log())
	}
	ready(30 * time.Second)

	want := masterRecords(t, m)
	if n := len(want); n < 55 {
		t.Fatalf("master holds only %d mailboxes after the burst", n)
	}
	// the master batches updates for 5 s and the bridge NOOPs every 5 s:
	// the bridge's LIST (served from the registry) converges within ~10 s
	var diff string
	murdertest.Eventually(30*time.Second, func() error {
		diff = cmp.Diff(listAll(ctx, t, m.MupdateAddr), listAll(ctx, t, listen))
		if diff != "" {
			return errors.New("differs")
		}
		return nil
	})
	if diff != "" {
		t.Errorf("after the burst, master LIST (-) vs bridge LIST (+):\n%s", diff)
	}
	code, body, _ := httpGet("http://" + httpAddr + "/metrics")
	if code != 200 || !strings.Contains(body, "murder_bridge_follow_lag_seconds") || !strings.Contains(body, "murder_bridge_follow_connected 1") {
		t.Errorf("/metrics = %d, lacks follow metrics", code)
	}
	if code, body, _ := httpGet("http://"+httpAddr+"/v1/status", apiToken); code != 200 || !strings.Contains(body, `"synced":true`) {
		t.Errorf("/v1/status = %d %s", code, body)
	} else {
		t.Logf("restarted bridge: %s", body)
	}

	// stop the bridge and compare its registry with the master's
	// mailboxes.db, as ctl_mboxlist -d prints it
	if st := p2.term(t); st != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", st, p2.out.String())
	}
	// the check: `mboxconv verify` of the master's mailboxes.db
	// (twoskip, written by the real master) against the registry
	out, err := exec.Command(mboxconvBinary(t), "verify", filepath.Join(m.Master.ConfigDir, "mailboxes.db"), reg).CombinedOutput()
	if err != nil {
		t.Errorf("mboxconv verify master-mailboxes.db registry: %v\n%s", err, out)
	}
	st, err := leveldb.Open(ctx, filepath.Join(dir, "registry"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want = masterRecords(t, m)
	if diff := cmp.Diff(want, registryRecords(t, st)); diff != "" {
		t.Errorf("master mailboxes.db (-) vs registry (+):\n%s", diff)
	}
	for _, n := range []string{"user.alice.Again.f49", "user.alice.Again.f11", "user.bob.Late", "shared.team"} {
		if _, ok := want[n]; !ok {
			t.Errorf("the master lacks %s: the burst did not do what the test expects", n)
		}
	}
	// mailboxes the registry held and the burst removed left tombstones
	// (names that lived only while the bridge was down never reached it)
	for _, n := range []string{"user.alice.Trash", "shared.lab", "user.alice.Big.f05", "user.alice.Big"} {
		if _, err := st.GetTombstone(ctx, n); err != nil {
			t.Errorf("no tombstone for %s: %v", n, err)
		}
	}
}

var (
	mboxconvOnce sync.Once
	mboxconvPath string
	mboxconvErr  error
)

// mboxconvBinary builds cmd/mboxconv once per test process.
func mboxconvBinary(t *testing.T) string {
	t.Helper()
	mboxconvOnce.Do(func() {
		dir, err := os.MkdirTemp("", "murderkit-mboxconv-")
		if err != nil {
			mboxconvErr = err
			return
		}
		mboxconvPath = filepath.Join(dir, "mboxconv")
		out, err := exec.Command("go", "build", "-o", mboxconvPath, "github.com/murderkit/murderkit/cmd/mboxconv").CombinedOutput()
		if err != nil {
			mboxconvErr = fmt.Errorf("go build ./cmd/mboxconv: %v\n%s", err, out)
		}
	})
	if mboxconvErr != nil {
		t.Fatal(mboxconvErr)
	}
	return mboxconvPath
}
