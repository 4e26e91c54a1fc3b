package interop

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// runbookBlock is one ```sh block of docs/runbook.md and the section ("## N.")
// it is in.
type runbookBlock struct {
	section string
	text    string
}

// runbookBlocks returns the sh blocks of docs/runbook.md before section 6
// (rollback, rehearsed by TestRehearsal).
func runbookBlocks(t *testing.T) []runbookBlock {
	t.Helper()
	b, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []runbookBlock
	section := ""
	in := false
	var cur strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case !in && strings.HasPrefix(l, "## "):
			section = strings.TrimPrefix(l, "## ")
		case !in && l == "```sh":
			in = true
			cur.Reset()
		case in && l == "```":
			in = false
			out = append(out, runbookBlock{section, cur.String()})
		case in:
			cur.WriteString(l + "\n")
		}
		if strings.HasPrefix(section, "6.") {
			break
		}
	}
	var before6 []runbookBlock
	for _, bl := range out {
		if n := bl.section[:1]; n >= "0" && n <= "5" {
			before6 = append(before6, bl)
		}
	}
	return before6
}

// TestRunbook runs docs/runbook.md's command blocks of steps 0 to 5 as
// written, in order, each in a POSIX shell (sh -eu) as root, against a real
// Cyrus 3.6.1 murder (a master, two backends with renames of folders with
// subfolders, delayed deletes, shared folders and ACLs, a frontend). Only
// the settings block of step 0 is replaced (with the same variables, set to
// the lab's values and temporary directories); the bridge's `serve` block
// runs in the background, as the runbook says. Every block must exit 0; the
// checks the runbook names are asserted on their output.
func TestRunbook(t *testing.T) {
	blocks := runbookBlocks(t)
	if len(blocks) < 8 {
		t.Fatalf("docs/runbook.md: only %d sh blocks in steps 0-5", len(blocks))
	}
	bin := filepath.Dir(murderBridgeBinary(t))
	if filepath.Dir(mboxconvBinary(t)) != bin {
		// both on PATH
		bin = bin + ":" + filepath.Dir(mboxconvBinary(t))
	}

	master := murdertest.StartMaster(t, murdertest.Options{})
	be1 := murdertest.StartBackend(t, master.MupdateAddr, murdertest.Options{Name: "runbook-be1"})
	be2 := murdertest.StartBackend(t, master.MupdateAddr, murdertest.Options{Name: "runbook-be2"})
	fe := murdertest.StartFrontend(t, master.MupdateAddr, murdertest.Options{Name: "runbook-fe", Serverlist: []string{be1.Servername, be2.Servername}})
	be1.RunSteps(t, append(slices.Clone(murdertest.LabSeed),
		murdertest.Step{User: "alice", Op: "CREATE", Args: []string{"INBOX.Proj"}},
		murdertest.Step{User: "alice", Op: "CREATE", Args: []string{"INBOX.Proj.a"}},
		murdertest.Step{User: "alice", Op: "CREATE", Args: []string{"INBOX.Proj.a.b"}},
		murdertest.Step{User: "alice", Op: "RENAME", Args: []string{"INBOX.Proj", "INBOX.Done"}},
		murdertest.Step{User: "alice", Op: "DELETE", Args: []string{"INBOX.Trash"}}, // delayed delete: DELETED.user.alice.Trash.*
	))
	be2.RunSteps(t, []murdertest.Step{
		{Op: "CREATE", Args: []string{"user.carol"}},
		{Op: "CREATE", Args: []string{"user.carol.Drafts"}},
		{Op: "CREATE", Args: []string{"ops"}},
		{Op: "SETACL", Args: []string{"ops", "group:staff", "lrs"}},
		{Op: "SETACL", Args: []string{"ops", "-bob", "l"}},
	})
	// the master's 5-second batch to its slaves: the frontend has every entry
	eventually.Nil(t, 30*time.Second, func() error {
		fe := fe.Dump(t)
		for n := range master.Dump(t) {
			if _, ok := fe[n]; !ok {
				return fmt.Errorf("the frontend lacks %s", n)
			}
		}
		return nil
	})

	work := t.TempDir()
	// the old master's file, copied while quiet (step 0)
	db := filepath.Join(work, "mailboxes.db.copy")
	if out, err := exec.Command("cp", "-p", filepath.Join(master.ConfigDir, "mailboxes.db"), db).CombinedOutput(); err != nil {
		t.Fatalf("cp -p: %v %s", err, out)
	}
	httpA := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t))
	settings := map[string]string{
		"MAILBOXES_DB": db,
		"OLD_MASTER":   master.MupdateAddr,
		"MURDER_USER":  "murder",
		"MURDER_PW":    master.Users["murder"],
		"OLD_FRONTEND": fe.IMAPAddr,
		"ADMIN_USER":   "admin",
		"ADMIN_PW":     fe.Users["admin"],
		"BE1":          be1.Servername,
		"BE2":          be2.Servername,
		"BE1_DB":       filepath.Join(be1.ConfigDir, "mailboxes.db"),
		"BE2_DB":       filepath.Join(be2.ConfigDir, "mailboxes.db"),
		"ETC":          filepath.Join(work, "etc", "murder-bridge"),
		"DATA":         filepath.Join(work, "var", "lib", "murder-bridge"),
		"LISTEN":       fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t)),
		"HTTP":         httpA,
	}
	// The runbook's settings block sets exactly these variables (a
	// variable made of others, such as B, is kept as written).
	docVars := regexp.MustCompile(`(?m)^([A-Z_0-9]+)=(.*)$`).FindAllStringSubmatch(blocks[0].text, -1)
	var names []string
	var pre strings.Builder
	for _, m := range docVars {
		names = append(names, m[1])
		v, ok := settings[m[1]]
		switch {
		case ok:
			fmt.Fprintf(&pre, "%s='%s'\n", m[1], v)
		case strings.Contains(m[2], "$"):
			fmt.Fprintf(&pre, "%s=%s\n", m[1], m[2])
		default:
			t.Errorf("the runbook's settings block sets %s, which this test does not", m[1])
		}
	}
	for k := range settings {
		if !slices.Contains(names, k) {
			t.Errorf("the runbook's settings block does not set %s", k)
		}
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))

	var serve *exec.Cmd
	var serveOut lockedBuffer
	serveDone := make(chan error, 1)
	t.Cleanup(func() {
		if serve != nil && serve.Process != nil {
			serve.Process.Signal(syscall.SIGTERM)
			select {
			case <-serveDone:
			case <-time.After(15 * time.Second):
				serve.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("murder-bridge serve output:\n%s", serveOut.String())
		}
	})
	outputs := map[string]string{}
	for i, bl := range blocks[1:] {
		script := "set -eu\n" + pre.String() + bl.text
		if strings.Contains(bl.text, "murder-bridge serve ") {
			serve = exec.Command("sh", "-c", "exec sh -c \"$0\"", script)
			serve.Dir, serve.Env = work, env
			serve.Stdout, serve.Stderr = &serveOut, &serveOut
			if err := serve.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { serveDone <- serve.Wait() }()
			// as the runbook's check: /readyz answers 200
			err := murdertest.Eventually(60*time.Second, func() error {
				select {
				case err := <-serveDone:
					serveDone <- err
					return fmt.Errorf("serve exited: %v", err)
				default:
				}
				r, err := http.Get("http://" + httpA + "/readyz")
				if err != nil {
					return err
				}
				r.Body.Close()
				if r.StatusCode != 200 {
					return fmt.Errorf("/readyz %d", r.StatusCode)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("runbook %s, block %d (serve): %v\n%s", bl.section, i+1, err, serveOut.String())
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("runbook %s, block %d failed: %v\n--- block:\n%s--- output:\n%s", bl.section, i+1, err, bl.text, out)
		}
		outputs[bl.section] += string(out)
		t.Logf("runbook %s, block %d: ok\n%s", bl.section, i+1, out)
	}
	sec := func(prefix string) string {
		for k, v := range outputs {
			if strings.HasPrefix(k, prefix) {
				return v
			}
		}
		t.Fatalf("no output of runbook section %s", prefix)
		return ""
	}
	// step 1: the check the runbook names
	if o := sec("1."); !strings.Contains(o, "damage:     none") || !strings.Contains(o, "format:     twoskip") {
		t.Errorf("step 1 output lacks what the runbook says to check:\n%s", o)
	}
	// step 3: secrets readable by root only; slots defined mirrored
	for _, f := range []string{"credentials", "master-password", "admin-password", "token"} {
		fi, err := os.Stat(filepath.Join(settings["ETC"], f))
		if err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("step 3 left %s with mode %v (%v), want no group/other bits", f, fi.Mode(), err)
		}
	}
	if o := sec("3."); !strings.Contains(o, `"ready":true`) || !strings.Contains(o, "slot be2 defined") {
		t.Errorf("step 3 output:\n%s", o)
	}
	// step 4: clean and recorded; step 5: cut over, with what to do next
	if o := sec("4."); !strings.Contains(o, "slot be1: shadow-clean") && !strings.Contains(o, "be1    shadow-clean") {
		t.Errorf("step 4 did not leave be1 shadow-clean:\n%s", o)
	}
	if o := sec("5."); !strings.Contains(o, "shadow-clean -> cutover") || !strings.Contains(o, "next: on each backend of "+be1.Servername) {
		t.Errorf("step 5 output:\n%s", o)
	}
}
