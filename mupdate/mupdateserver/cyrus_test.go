package mupdateserver_test

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMupdatetest: Cyrus's own client, mupdatetest, authenticates to our
// server and runs LIST and FIND. Without -m it picks the mechanism a Cyrus
// client with default settings picks from our banner: SCRAM-SHA-512.
func TestMupdatetest(t *testing.T) {
	tool := cyrustest.Tool(t, "mupdatetest")
	for _, tc := range []struct{ name, mech, wantMech string }{
		{"default", "", "SCRAM-SHA-512"},
		{"plain", "PLAIN", "PLAIN"},
		{"scram-sha-1", "SCRAM-SHA-1", "SCRAM-SHA-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuf{}
			ts := startServer(t, func(c *mupdateserver.Config) {
				c.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			ts.be.Load(mb("user.alice", "127.0.0.1:11143!default", "alice\tlrswipkxtecdan\t"),
				mb("shared.lab", "127.0.0.1:11143!default", "anyone\tlrs\t"))
			dir, err := os.MkdirTemp("", "mupdatetest-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			script := filepath.Join(dir, "cmds")
			os.WriteFile(script, []byte("L1 LIST\r\nF1 FIND \"user.alice\"\r\nQ1 LOGOUT\r\n"), 0o644)
			os.Chmod(dir, 0o755)
			_, port, _ := strings.Cut(ts.addr, ":")
			args := []string{"-p", port, "-a", "admin", "-w", "adminpw", "-f", script}
			if tc.mech != "" {
				args = append(args, "-m", tc.mech)
			}
			args = append(args, "127.0.0.1")
			out, err := runBounded(cyrustest.AsCyrus(tool, args...), 20*time.Second)
			if err != nil {
				t.Fatalf("mupdatetest: %v\n%s", err, out)
			}
			for _, want := range []string{
				"L1 MAILBOX {10+}", "shared.lab {23+}", "L1 OK \"list complete\"",
				"F1 MAILBOX {10+}", "user.alice {23+}", "F1 OK \"Search completed\"",
				"Q1 OK \"bye-bye\"",
			} {
				if !strings.Contains(string(out), want) {
					t.Fatalf("mupdatetest output lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(logs.String(), "mech="+tc.wantMech) {
				t.Fatalf("server log does not show a %s login:\n%s", tc.wantMech, logs.String())
			}
		})
	}
}

// runBounded runs cmd, killing it after d.
func runBounded(cmd *exec.Cmd, d time.Duration) ([]byte, error) {
	var buf syncBuf
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	return []byte(buf.String()), err
}
