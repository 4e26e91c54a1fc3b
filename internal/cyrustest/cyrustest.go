package cyrustest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BinDir is where Debian installs the Cyrus tools.
var BinDir = "/usr/lib/cyrus/bin"

// Tool returns the absolute path of a Cyrus tool, failing the test when it is
// not installed.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(BinDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("real Cyrus tool %s is not installed (%v): install the Debian packages cyrus-imapd cyrus-murder cyrus-admin cyrus-clients (make deps)", name, err)
	}
	return p
}

// Config is a scratch Cyrus configuration: an imapd.conf, a configdirectory
// and a default partition below one temporary directory owned by the cyrus
// user.
type Config struct {
	Dir  string // top directory
	Conf string // path of imapd.conf
	// ConfigDir is the configdirectory; its mailboxes.db is the default
	// mboxlist_db_path.
	ConfigDir string
	// Release is the Cyrus release whose tools Run runs (zero: the host's).
	Release Release
}

// NewConfig makes a scratch configuration. Each extra line is appended to
// imapd.conf verbatim ("reverseacls: yes", "mboxlist_db: skiplist", ...).
func NewConfig(t testing.TB, extra ...string) *Config {
	t.Helper()
	return NewConfigIn(t, Release{}, extra...)
}

// MailboxesDB is the path of the configuration's mailboxes.db.
func (c *Config) MailboxesDB() string { return filepath.Join(c.ConfigDir, "mailboxes.db") }

// Result is what one tool run printed.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Run runs a Cyrus tool with -C imapd.conf first and args after it, as the
// cyrus user when the test runs as root. It fails the test only when the tool
// cannot be started; a non-zero exit is returned in Result.
func (c *Config) Run(t testing.TB, tool string, args ...string) Result {
	t.Helper()
	return c.RunInput(t, nil, tool, args...)
}

// RunInput is Run with standard input.
func (c *Config) RunInput(t testing.TB, stdin []byte, tool string, args ...string) Result {
	t.Helper()
	return RunCmd(t, c.command(t, tool, args), stdin, tool)
}

// MustRun is Run that fails the test on a non-zero exit.
func (c *Config) MustRun(t testing.TB, tool string, args ...string) []byte {
	t.Helper()
	r := c.Run(t, tool, args...)
	if r.ExitCode != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", tool, strings.Join(args, " "), r.ExitCode, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// AsCyrus returns a command that runs path as the cyrus user when the current
// process is root (Cyrus tools refuse or misbehave otherwise), and as the
// current user when it is not.
func AsCyrus(path string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("cyrus"); err == nil {
			return exec.Command("runuser", append([]string{"-u", "cyrus", "--", path}, args...)...)
		}
	}
	return exec.Command(path, args...)
}

// Chown gives a tree to the cyrus user (group mail) when running as root, so
// the Cyrus tools can write into it. Without root it does nothing.
func Chown(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("cyrus")
	if err != nil {
		return fmt.Errorf("cyrus user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
