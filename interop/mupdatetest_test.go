package interop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// mupdatetest runs Cyrus's own MUPDATE client against addr with a script
// (-f: pipelined commands), bounded in time, and returns what it printed.
func mupdatetest(t *testing.T, addr, mech, user, pw string, cmds ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	// mupdatetest runs as the cyrus user: the script must be readable to it
	f, err := os.CreateTemp("", "murderkit-mupdatetest-")
	if err != nil {
		t.Fatal(err)
	}
	script := f.Name()
	t.Cleanup(func() { os.Remove(script) })
	f.WriteString(strings.Join(cmds, "\r\n") + "\r\n")
	f.Close()
	os.Chmod(script, 0o644)
	args := []string{"-p", port, "-a", user, "-w", pw, "-f", script}
	if mech != "" {
		args = append(args, "-m", mech)
	}
	args = append(args, host)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := cyrustest.AsCyrus(cyrustest.Tool(t, "mupdatetest"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		t.Fatalf("mupdatetest %v did not finish in 20 s:\n%s", args, out.String())
	}
	return out.String()
}

// Proof 3 of docs/interop.md ("What is proven"): Cyrus's mupdatetest authenticates against our server
// and runs LIST/FIND; through a Tee, the real master gets the same bytes
// and must answer exactly as we do. With no -m, mupdatetest picks the
// strongest mechanism we offer (SCRAM-SHA-512), as a Cyrus backend with
// default settings does; a real backend without force_sasl_client_mech
// then pushes and creates through SCRAM too, and a frontend's slave with
// default settings syncs over SCRAM.
func TestMupdatetestAgainstBridge(t *testing.T) {
	master := murdertest.StartMaster(t, murdertest.Options{})
	ours := startOurs(t)
	tee := murdertest.StartTee(t, ours.Addr, master.MupdateAddr)
	be := murdertest.StartBackend(t, "", murdertest.Options{Standalone: true})
	be.RunSteps(t, murdertest.LabSeed)
	be.Join(t, tee.Addr)
	be.CtlMboxlist(t, "-m")

	cmds := []string{`L01 LIST`, `L02 LIST "` + be.Servername + `!"`, `L03 LIST "nosuchhost!"`,
		`F01 FIND "user.alice"`, `F02 FIND "user.nosuch"`, `N01 NOOP`}
	out := mupdatetest(t, tee.Addr, "PLAIN", "admin", "adminpw", cmds...)
	tee.Close()
	if d := tee.Differences(); len(d) > 0 {
		t.Errorf("answers to mupdatetest differ, ours (primary) vs the real master:\n%s", strings.Join(d, "\n"))
	}
	conns := tee.Conns()
	last := string(conns[len(conns)-1].Primary)
	for _, want := range []string{`A01 OK "Authenticated"`, `L01 MAILBOX {10+}`, "user.alice.Trash", `F01 MAILBOX {10+}`, `F01 OK "Search completed"`, `L03 OK "list complete"`, `N01 OK "Noop done"`} {
		if !strings.Contains(last, want) {
			t.Errorf("our answers to mupdatetest lack %q:\n%s\nmupdatetest printed:\n%s", want, last, out)
		}
	}

	// Default mechanism choice, straight to us.
	for _, mech := range []string{"", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		out := mupdatetest(t, ours.Addr, mech, "murder", "murderpw", `F01 FIND "user.bob"`, `N01 NOOP`)
		if !strings.Contains(out, "Authenticated") || !strings.Contains(out, "user.bob") {
			t.Errorf("mupdatetest -m %q against us:\n%s", mech, out)
		}
	}
	if out := mupdatetest(t, ours.Addr, "PLAIN", "murder", "wrongpw", `N01 NOOP`); strings.Contains(out, "N01 OK") {
		t.Errorf("a wrong password was accepted:\n%s", out)
	}

	// A real backend with Cyrus's default client settings (no
	// force_sasl_client_mech) against us: it picks SCRAM-SHA-512.
	be2 := murdertest.StartBackend(t, ours.Addr, murdertest.Options{Name: "backend-scram", ClientMech: "none"})
	s := be2.IMAPAs(t, "admin")
	if err := s.Create("user.scram"); err != nil {
		t.Fatalf("CREATE on a backend using SCRAM against us: %v\n%s", err, be2.Log())
	}
	e, err := ours.Store.Get(context.Background(), "user.scram")
	if err != nil || e.Server != be2.Servername {
		t.Fatalf("registry after a SCRAM backend's CREATE: %+v, %v", e, err)
	}

	// A frontend with default client settings: its mupdate slave logs in
	// with SCRAM-SHA-512 and syncs (StartFrontend returns once the slave
	// greets, i.e. after its full UPDATE), and its replica holds our list.
	fe := murdertest.StartFrontend(t, ours.Addr, murdertest.Options{Name: "frontend-scram", ClientMech: "none"})
	if e, ok := fe.Dump(t)["user.scram"]; !ok || e.Server != be2.Servername {
		t.Errorf("the SCRAM frontend's replica lacks user.scram: %+v", e)
	}
	if n := strings.Count(ours.Logs.String(), "user=murder mech=SCRAM-SHA-512"); n < 3 {
		t.Errorf("%d SCRAM-SHA-512 logins (mupdatetest, backend, frontend slave), want at least 3", n)
	}
}
