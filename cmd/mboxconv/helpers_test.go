package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/exitcode"
)

const fixtures = "../../testdata"

// fixtureFormats lists every database fixture and its format.
var fixtureFormats = map[string]string{
	"sample.twoskip.db": "twoskip", "sample.skiplist.db": "skiplist", "types.twoskip.db": "twoskip",
	"empty.twoskip.db": "twoskip", "empty.skiplist.db": "skiplist",
	"logform.twoskip.db": "twoskip", "logform.skiplist.db": "skiplist",
	"crash.twoskip.db": "twoskip", "crash.skiplist.db": "skiplist",
	"v2x.skiplist.db": "skiplist", "v2x.twoskip.db": "twoskip", "v25.twoskip.db": "twoskip", "v34.twoskip.db": "twoskip",
}

// is36 reports whether a fixture holds Cyrus 3.6 values.
func is36(name string) bool { return !strings.HasPrefix(name, "v2") && !strings.HasPrefix(name, "v3") }

// run runs one mboxconv command line in process, as main does, and returns
// stdout, stderr and the exit status.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	// A fresh command tree per run, as main builds one per process.
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("mboxconv: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), exitcode.Of(err)
}

// copyToCyrus copies a file into the scratch configuration (owned by cyrus),
// because the Cyrus tools recover (rewrite) files they open.
func copyToCyrus(t *testing.T, c *cyrustest.Config, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(c.ConfigDir, name)
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Chown(dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// cyrusConsistent copies the file at src into c as name (copyToCyrus) and
// fails t unless the real `cyr_dbtool consistent` finds it consistent in
// format; it returns the copy's path.
func cyrusConsistent(t *testing.T, c *cyrustest.Config, src, name, format string) string {
	t.Helper()
	cp := copyToCyrus(t, c, src, name)
	if out := c.MustRun(t, "cyr_dbtool", cp, format, "consistent"); !bytes.Contains(out, []byte("Yes, consistent")) {
		t.Fatalf("cyr_dbtool consistent: %s", out)
	}
	return cp
}

// cyrusDump runs the real `ctl_mboxlist -d -f` and `cyr_dbtool show` on a
// copy of the file.
func cyrusDump(t *testing.T, c *cyrustest.Config, path, format string) (json, show []byte) {
	t.Helper()
	cp := copyToCyrus(t, c, path, "copy-json.db")
	json = c.MustRun(t, "ctl_mboxlist", "-d", "-f", cp)
	cp = copyToCyrus(t, c, path, "copy-show.db")
	show = c.MustRun(t, "cyr_dbtool", cp, format, "show")
	return json, show
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-60)
	return fmt.Sprintf("first difference at byte %d:\n got: %s\nwant: %s", i, quoteClip(a, lo, i+60), quoteClip(b, lo, i+60))
}

func quoteClip(b []byte, lo, hi int) string {
	hi = min(hi, len(b))
	if lo > hi {
		lo = hi
	}
	return strings.ReplaceAll(string(b[lo:hi]), "\n", `\n`)
}
