package cyrustest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Release is one Cyrus release the tests run for real: the host's own
// (Debian bookworm, 3.6) or one installed in a Debian chroot that
// scripts/build-chroots.sh builds (make chroots).
type Release struct {
	Version string // "3.2", "3.6", "3.10", "3.12": what --cyrus-version calls it
	Suite   string // the Debian suite it comes from
	// Root is the chroot directory; "" for the host's Cyrus.
	Root string
}

// Releases lists every release the tests run, oldest first. 3.6 is the host's.
var Releases = []Release{
	{Version: "3.2", Suite: "bullseye"},
	{Version: "3.6", Suite: "bookworm"},
	{Version: "3.10", Suite: "trixie"},
	{Version: "3.12", Suite: "sid"},
}

// ChrootDir is where scripts/build-chroots.sh keeps the chroots
// (MURDERKIT_CHROOTS overrides it, for the script and the tests alike).
func ChrootDir() string {
	if d := os.Getenv("MURDERKIT_CHROOTS"); d != "" {
		return d
	}
	return "/var/cache/murderkit/chroots"
}

// ReleaseOf returns the release of a version ("3.2", "3.10", ...), failing
// the test when it is unknown or, for a chroot release, when its chroot is
// missing or incomplete (the message says the make command that builds it).
func ReleaseOf(t testing.TB, version string) Release {
	t.Helper()
	for _, r := range Releases {
		if r.Version != version {
			continue
		}
		if r.Suite == "bookworm" {
			Tool(t, "cyr_dbtool")
			return r
		}
		r.Root = filepath.Join(ChrootDir(), r.Suite)
		if _, err := os.Stat(filepath.Join(r.Root, ".murderkit-cyrus-version")); err != nil {
			t.Fatalf("Cyrus %s (Debian %s) chroot missing or incomplete in %s: run `make chroots` (scripts/build-chroots.sh %s) as root",
				version, r.Suite, r.Root, r.Suite)
		}
		if os.Geteuid() != 0 {
			t.Fatalf("running Cyrus %s in its chroot %s needs root (chroot, mount namespace)", version, r.Root)
		}
		return r
	}
	t.Fatalf("no Cyrus release %q known (have 3.2, 3.6, 3.10, 3.12)", version)
	return Release{}
}

// Package is the Debian package version of the release's cyrus-imapd.
func (r Release) Package(t testing.TB) string {
	t.Helper()
	if r.Root == "" {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "cyrus-imapd").Output()
		if err != nil {
			t.Fatalf("dpkg-query cyrus-imapd: %v", err)
		}
		return string(out)
	}
	b, err := os.ReadFile(filepath.Join(r.Root, ".murderkit-cyrus-version"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// cyrusIDs is the cyrus user's uid and gid in the release's /etc/passwd.
func (r Release) cyrusIDs() (uid, gid int, err error) {
	root := r.Root
	if root == "" {
		root = "/"
	}
	f, err := os.Open(filepath.Join(root, "etc/passwd"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) >= 4 && p[0] == "cyrus" {
			uid, err1 := strconv.Atoi(p[2])
			gid, err2 := strconv.Atoi(p[3])
			if err1 != nil || err2 != nil {
				return 0, 0, fmt.Errorf("%s: bad cyrus line %q", f.Name(), sc.Text())
			}
			return uid, gid, nil
		}
	}
	return 0, 0, fmt.Errorf("%s: no cyrus user", f.Name())
}

// CyrusUserSpec is "UID:GID" of the release's cyrus user (for chroot
// --userspec).
func (r Release) CyrusUserSpec() (string, error) {
	uid, gid, err := r.cyrusIDs()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d", uid, gid), nil
}

// NewConfigIn is NewConfig for a release: for a chroot release the scratch
// directory is made inside the chroot (under its /tmp), so the chroot sees it
// without a mount, and removed when the test ends. Config's paths are host
// paths; Run passes arguments below the chroot as the chroot sees them.
func NewConfigIn(t testing.TB, r Release, extra ...string) *Config {
	t.Helper()
	tmp := "" // the host's: the default temporary directory
	if r.Root == "" {
		Tool(t, "cyr_dbtool")
	} else {
		tmp = filepath.Join(r.Root, "tmp")
	}
	dir, err := os.MkdirTemp(tmp, "murderkit-cyrus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Config{Dir: dir, Conf: filepath.Join(dir, "imapd.conf"), ConfigDir: filepath.Join(dir, "conf"), Release: r}
	lines := []string{
		"configdirectory: " + c.Inside(c.ConfigDir),
		"partition-default: " + c.Inside(filepath.Join(dir, "part")),
		"admins: cyrus admin",
		"syslog_prefix: murderkit-test",
	}
	lines = append(lines, extra...)
	if err := os.WriteFile(c.Conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{c.ConfigDir, filepath.Join(c.ConfigDir, "db"), filepath.Join(dir, "part")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Chown(dir); err != nil {
		t.Fatal(err)
	}
	return c
}

// Inside is the path the release's tools see for a host path: below the
// chroot the chroot-relative path, anything else unchanged.
func (c *Config) Inside(p string) string {
	if c.Release.Root == "" {
		return p
	}
	if rel, ok := strings.CutPrefix(p, c.Release.Root+"/"); ok {
		return "/" + rel
	}
	return p
}

// Chown gives a tree to the release's cyrus user (its uid in the chroot's
// /etc/passwd), so that release's tools can write into it.
func (c *Config) Chown(path string) error {
	if c.Release.Root == "" {
		return Chown(path)
	}
	uid, gid, err := c.Release.cyrusIDs()
	if err != nil {
		return err
	}
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// chrootScript runs a command in the chroot ($1) as uid:gid ($2) inside a
// private mount namespace: /proc and a /dev of a few device nodes are mounted
// there for the command only, so nothing stays mounted when it ends.
const chrootScript = `set -e
root="$1"; ids="$2"; shift 2
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755,size=64k murderkit-dev "$root/dev"
mknod -m 666 "$root/dev/null" c 1 3
mknod -m 666 "$root/dev/zero" c 1 5
mknod -m 666 "$root/dev/random" c 1 8
mknod -m 666 "$root/dev/urandom" c 1 9
ln -s /proc/self/fd "$root/dev/fd"
mkdir -m 1777 "$root/dev/shm"
exec chroot --userspec="$ids" --groups="${ids#*:}" "$root" "$@"
`

// ChrootCommand returns a command that runs argv (paths as the chroot sees
// them) inside the release's chroot as its cyrus user. For the host release
// it is AsCyrus.
func (r Release) ChrootCommand(argv ...string) (*exec.Cmd, error) {
	if r.Root == "" {
		return AsCyrus(argv[0], argv[1:]...), nil
	}
	uid, gid, err := r.cyrusIDs()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-m", "--propagation", "private", "sh", "-c", chrootScript, "sh",
		r.Root, fmt.Sprintf("%d:%d", uid, gid)}, argv...)
	cmd := exec.Command("/usr/bin/unshare", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=/var/lib/cyrus"}
	return cmd, nil
}

// toolPath is where a release keeps a Cyrus tool, as its chroot sees it.
func (r Release) toolPath(t testing.TB, name string) string {
	t.Helper()
	if r.Root == "" {
		return Tool(t, name)
	}
	p := filepath.Join(BinDir, name)
	if _, err := os.Stat(filepath.Join(r.Root, p)); err != nil {
		t.Fatalf("Cyrus %s tool %s is missing in the chroot %s (%v): rebuild it (rm -rf it; make chroots)", r.Version, name, r.Root, err)
	}
	return p
}

func (c *Config) command(t testing.TB, tool string, args []string) *exec.Cmd {
	t.Helper()
	full := append([]string{"-C", c.Inside(c.Conf)}, args...)
	if c.Release.Root == "" {
		return AsCyrus(Tool(t, tool), full...)
	}
	argv := []string{c.Release.toolPath(t, tool)}
	for _, a := range full {
		argv = append(argv, c.Inside(a))
	}
	cmd, err := c.Release.ChrootCommand(argv...)
	if err != nil {
		t.Fatalf("Cyrus %s: %v", c.Release.Version, err)
	}
	return cmd
}

// RunCmd runs cmd with stdin and collects what it printed; a non-zero exit
// is returned in the Result, any other failure to run fails the test.
func RunCmd(t testing.TB, cmd *exec.Cmd, stdin []byte, tool string) Result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %s: %v", tool, err)
		}
		res.ExitCode = ee.ExitCode()
	}
	return res
}
