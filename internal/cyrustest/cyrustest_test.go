package cyrustest

import (
	"os"
	"path/filepath"
	"strings"
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
