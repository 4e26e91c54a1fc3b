package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// historySteps is a few weeks of ordinary history on a real backend: a
// folder with subfolders renamed, folders deleted with Cyrus's default
// delete_mode: delayed (each becomes DELETED.* and leaves a tombstone that
// shares its uniqueid), a whole user renamed, a user deleted with its
// folders (a parent with children: Cyrus refuses that for any other
// folder), group, anyone and negative ACLs. (Virtual domains are in testdata/sample.twoskip.db: an admin's
// CREATE of example.com!user.x makes this backend's imapd abort on an
// assertion, user_isnamespacelocked, in Cyrus 3.6.1.)
var historySteps = []murdertest.Step{
	{Op: "CREATE", Args: []string{"user.alice.Projects"}},
	{Op: "CREATE", Args: []string{"user.alice.Projects.a"}},
	{Op: "CREATE", Args: []string{"user.alice.Projects.a.deep"}},
	{Op: "CREATE", Args: []string{"user.alice.Projects.b"}},
	{Op: "RENAME", Args: []string{"user.alice.Projects", "user.alice.Work"}},
	{User: "bob", Op: "CREATE", Args: []string{"INBOX.Old"}},
	{User: "bob", Op: "CREATE", Args: []string{"INBOX.Old.x"}},
	{User: "bob", Op: "DELETE", Args: []string{"INBOX.Old.x"}},
	{User: "bob", Op: "DELETE", Args: []string{"INBOX.Old"}},
	{Op: "CREATE", Args: []string{"user.carol"}},
	{Op: "CREATE", Args: []string{"user.carol.Sent"}},
	{Op: "RENAME", Args: []string{"user.carol", "user.caroline"}},
	{Op: "CREATE", Args: []string{"user.dave"}},
	{Op: "CREATE", Args: []string{"user.dave.Sent"}},
	{Op: "CREATE", Args: []string{"user.dave.Sent.x"}},
	{Op: "SETACL", Args: []string{"user.dave", "admin", "lrswipkxtecda"}},
	{Op: "DELETE", Args: []string{"user.dave"}}, // a parent with children: a whole user
	{Op: "SETACL", Args: []string{"shared.lab", "group:staff", "lrs"}},
	{Op: "SETACL", Args: []string{"shared.lab", "-bob", "w"}},
	{Op: "SETACL", Args: []string{"user.alice.Work", "anyone", "lr"}},
}

// TestRealHistoryRoundTrips builds a real Cyrus 3.6.1 murder with the
// history above and holds every file path to what real Cyrus wrote, for the
// master's file (RENAME targets and DELETED.* stored with an empty
// partition, location "host!"), the backend's (tombstones sharing the live
// mailbox's uniqueid, one I record naming the live name, no server names)
// and the frontend's: dump, dump --raw, convert to each format, import and
// export; each written file is given back to real Cyrus.
// MURDERKIT_WRITE_FIXTURES=DIR also saves the three files and their
// goldens there (testdata/history.* were made that way).
func TestRealHistoryRoundTrips(t *testing.T) {
	m := murdertest.StartMurder(t, murdertest.MurderOptions{Seed: murdertest.LabSeed,
		Backend: murdertest.Options{Extra: []string{"allowusermoves: yes"}}})
	m.Backend.RunSteps(t, historySteps)
	mc := mboxconvBinary(t)
	// the frontend's slave takes the master's next batch
	if err := murdertest.Eventually(20*time.Second, func() error {
		if _, ok := m.Frontend.Dump(t)["user.caroline.Sent"]; !ok {
			return os.ErrNotExist
		}
		return nil
	}); err != nil {
		t.Fatal("the frontend never saw the history")
	}
	dir := t.TempDir()
	fixtures := os.Getenv("MURDERKIT_WRITE_FIXTURES")
	emptyParts := 0
	for _, in := range []*murdertest.Instance{m.Master, m.Backend, m.Frontend} {
		name := "history." + string(in.Role) + ".twoskip.db"
		src := filepath.Join(dir, name)
		copyFile(t, filepath.Join(in.ConfigDir, "mailboxes.db"), src, 0o644)
		wantJSON := in.CtlMboxlist(t, "-d")
		wantShow := cyrusShow(t, in, src, "twoskip")
		if in.Role == murdertest.RoleMaster {
			emptyParts = strings.Count(string(wantJSON), `"partition": ""`)
		}
		if fixtures != "" {
			copyFile(t, src, filepath.Join(fixtures, name), 0o644)
			os.WriteFile(filepath.Join(fixtures, name+".json"), wantJSON, 0o644)
			os.WriteFile(filepath.Join(fixtures, name+".show"), wantShow, 0o644)
		}
		run := func(args ...string) string {
			t.Helper()
			code, out := runBin(t, time.Minute, mc, args...)
			if code != 0 {
				t.Fatalf("%s: mboxconv %s: exit %d\n%s", in.Name, strings.Join(args, " "), code, out)
			}
			return out
		}
		stdout := func(args ...string) []byte {
			t.Helper()
			var out, errb bytes.Buffer
			cmd := exec.Command(mc, args...)
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: mboxconv %s: %v\n%s", in.Name, strings.Join(args, " "), err, errb.String())
			}
			return out.Bytes()
		}
		if got := stdout("dump", src); !bytes.Equal(got, wantJSON) {
			t.Errorf("%s: mboxconv dump differs from ctl_mboxlist -d:\n%s", in.Name, firstDiff(wantJSON, got))
		}
		if got := stdout("dump", "--raw", src); !bytes.Equal(got, wantShow) {
			t.Errorf("%s: mboxconv dump --raw differs from cyr_dbtool show:\n%s", in.Name, firstDiff(wantShow, got))
		}
		// every writer, each output given back to real Cyrus
		for _, format := range []string{"twoskip", "skiplist"} {
			out := filepath.Join(dir, in.Name+"-convert."+format)
			run("convert", src, out, "--to", format)
			if got := cyrusShow(t, in, out, format); !bytes.Equal(got, wantShow) {
				t.Errorf("%s: convert --to %s: cyr_dbtool show differs from the original's:\n%s", in.Name, format, firstDiff(wantShow, got))
			}
			cyrusConsistent(t, in, out, format)
		}
		// JSON keeps the name history (ctl_mboxlist -d prints none, -u
		// reads it): through JSON and back, the file is the original
		js := filepath.Join(dir, in.Name+"-convert.json")
		run("convert", src, js, "--to", "json")
		fromJSON := filepath.Join(dir, in.Name+"-fromjson.twoskip")
		run("convert", js, fromJSON, "--to", "twoskip")
		if got := cyrusShow(t, in, fromJSON, "twoskip"); !bytes.Equal(got, wantShow) {
			t.Errorf("%s: convert to JSON and back: cyr_dbtool show differs from the original's:\n%s", in.Name, firstDiff(wantShow, got))
		}
		reg := "leveldb://" + filepath.Join(dir, in.Name+"-registry")
		run("import", src, "--registry", reg)
		back := filepath.Join(dir, in.Name+"-export.twoskip")
		run("export", "--registry", reg, back, "--to", "twoskip")
		if got := cyrusShow(t, in, back, "twoskip"); !bytes.Equal(got, wantShow) {
			t.Errorf("%s: import then export: cyr_dbtool show differs from the original's:\n%s", in.Name, firstDiff(wantShow, got))
		}
		cyrusConsistent(t, in, back, "twoskip")
		run("verify", src, reg)

		// absent is not empty: the same dump with the master's `""`
		// partitions left out must differ, naming the field
		if in.Role == murdertest.RoleMaster {
			noPart := filepath.Join(dir, "master-nopart.json")
			os.WriteFile(noPart, bytes.ReplaceAll(wantJSON, []byte(`"partition": "", `), nil), 0o644)
			code, out := runBin(t, time.Minute, mc, "verify", src, noPart)
			if code != 1 || !strings.Contains(out, `partition: "" ≠ absent`) {
				t.Errorf("verify of the master's file against its dump without the empty partitions: exit %d\n%s", code, out)
			}
		}
	}
	if emptyParts < 5 {
		t.Errorf("the master holds %d entries with an empty partition; the history should leave at least 5 (renamed tree, DELETED.*)", emptyParts)
	}
}

// cyrusShow is real Cyrus's `cyr_dbtool PATH FORMAT show` of a copy (Cyrus
// may recover a file it opens), run with the instance's configuration.
func cyrusShow(t *testing.T, in *murdertest.Instance, path, format string) []byte {
	t.Helper()
	cp := cyrusCopy(t, in, path)
	r := in.Run(t, nil, "cyr_dbtool", cp, format, "show")
	if r.ExitCode != 0 {
		t.Fatalf("cyr_dbtool %s %s show: exit %d\n%s", path, format, r.ExitCode, r.Stderr)
	}
	return r.Stdout
}

// cyrusConsistent runs real Cyrus's `cyr_dbtool PATH FORMAT consistent`.
func cyrusConsistent(t *testing.T, in *murdertest.Instance, path, format string) {
	t.Helper()
	cp := cyrusCopy(t, in, path)
	if r := in.Run(t, nil, "cyr_dbtool", cp, format, "consistent"); r.ExitCode != 0 {
		t.Errorf("cyr_dbtool %s %s consistent: exit %d\n%s%s", path, format, r.ExitCode, r.Stdout, r.Stderr)
	}
}

// cyrusCopy copies path into a directory of the instance's that the cyrus
// user can reach, owned by cyrus.
func cyrusCopy(t *testing.T, in *murdertest.Instance, path string) string {
	t.Helper()
	d, err := os.MkdirTemp(in.Dir, "copy")
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(d, filepath.Base(path))
	copyFile(t, path, cp, 0o644)
	for _, p := range []string{d, cp} {
		if err := cyrustest.Chown(p); err != nil {
			t.Fatal(err)
		}
	}
	return cp
}

// firstDiff shows the first line where got differs from want.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, w, g)
		}
	}
	return "(equal)"
}
