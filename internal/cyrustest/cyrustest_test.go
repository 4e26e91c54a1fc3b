package cyrustest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The harness itself: a scratch configuration in which real cyr_dbtool
// writes and reads back a twoskip file.
func TestScratchConfigRunsRealTool(t *testing.T) {
	c := NewConfig(t)
	db := filepath.Join(c.Dir, "t.db")
	c.MustRun(t, "cyr_dbtool", "-n", db, "twoskip", "set", "alpha", "one")
	out := c.MustRun(t, "cyr_dbtool", db, "twoskip", "show")
	if got, want := string(out), "alpha\tone\n"; got != want {
		t.Fatalf("show = %q, want %q", got, want)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
	r := c.Run(t, "cyr_dbtool", db, "twoskip", "get", "missing")
	if r.ExitCode == 0 && strings.Contains(string(r.Stdout), "missing") {
		t.Fatalf("get of a missing key printed %q", r.Stdout)
	}
}

// Each release's own tools run in their chroot: cyr_dbtool of that release
// writes and reads back a twoskip file in a scratch configuration inside the
// chroot, and the package is the release the tests claim it is.
func TestReleasesRunTheirOwnTools(t *testing.T) {
	want := map[string]string{"3.2": "3.2.", "3.6": "3.6.", "3.10": "3.10.", "3.12": "3.12."}
	for _, rel := range Releases {
		t.Run(rel.Version, func(t *testing.T) {
			r := ReleaseOf(t, rel.Version)
			if pkg := r.Package(t); !strings.HasPrefix(pkg, want[rel.Version]) {
				t.Fatalf("Cyrus %s: cyrus-imapd package is %q", rel.Version, pkg)
			}
			c := NewConfigIn(t, r)
			db := filepath.Join(c.ConfigDir, "t.db")
			c.MustRun(t, "cyr_dbtool", "-n", db, "twoskip", "set", "alpha", "one")
			out := c.MustRun(t, "cyr_dbtool", db, "twoskip", "show")
			if got, want := string(out), "alpha\tone\n"; got != want {
				t.Fatalf("show = %q, want %q", got, want)
			}
			if r.Root != "" && !strings.HasPrefix(db, r.Root+"/") {
				t.Fatalf("scratch file %s is not inside the chroot %s", db, r.Root)
			}
			// the file was written by the release's cyrus user
			fi, err := os.Stat(db)
			if err != nil {
				t.Fatal(err)
			}
			uid, _, err := r.cyrusIDs()
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
				t.Fatalf("%s owned by uid %d, want the release's cyrus %d", db, st.Uid, uid)
			}
		})
	}
}

// A missing chroot fails the test with the make command that builds it.
func TestReleaseMissingChrootFails(t *testing.T) {
	t.Setenv("MURDERKIT_CHROOTS", t.TempDir())
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { recover() }()
		ReleaseOf(ft, "3.12")
	}()
	if !strings.Contains(ft.msg, "make chroots") {
		t.Fatalf("ReleaseOf with no chroot said %q, want the make command", ft.msg)
	}
}

type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic("fatal")
}
