package main

import (
	"path/filepath"
	"testing"
)

// TestTargetFlagErrors pins the answers to a bad --to (convert, export) and
// --format (dump): exit status 2 and the same message, whatever command
// parses it, and nothing written.
func TestTargetFlagErrors(t *testing.T) {
	src := filepath.Join(fixtures, "sample.twoskip.db")
	dst := filepath.Join(t.TempDir(), "out")
	reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--to", ""}, "--to is required (twoskip, skiplist, json or legacy)"},
		{[]string{"--to", "Twoskip"}, `--to must be twoskip, skiplist, json or legacy, not "Twoskip"`},
		{[]string{"--to", "berkeley"}, `--to must be twoskip, skiplist, json or legacy, not "berkeley"`},
		{[]string{"--to", "json", "--cyrus-version", "3.2"}, "--to json is the Cyrus 3.6-and-later dump; for 3.2 use --to legacy"},
		{[]string{"--to", "twoskip", "--cyrus-version", "2.4"}, "Cyrus 2.4 has no twoskip backend; use --to skiplist"},
		{[]string{"--to", "skiplist", "--reverseacls", "yes"}, `--reverseacls must be auto, on or off, not "yes"`},
	} {
		for _, cmd := range [][]string{{"convert", src, dst}, {"export", "--registry", reg, dst}} {
			args := append(append([]string{}, cmd...), c.args...)
			out, stderr, code := run(t, args...)
			if code != 2 || stderr != "mboxconv: "+c.want+"\n" || out != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", args, code, out, stderr, c.want)
			}
		}
	}
	for _, f := range []string{"twoskip", "skiplist", "JSON", ""} {
		out, stderr, code := run(t, "dump", "--format", f, src)
		if want := `mboxconv: --format must be json or legacy, not "` + f + `"` + "\n"; code != 2 || stderr != want || out != "" {
			t.Errorf("dump --format %q: exit %d, stdout %q, stderr %q; want exit 2 and %q", f, code, out, stderr, want)
		}
	}
	if m, _ := filepath.Glob(dst + "*"); len(m) != 0 {
		t.Errorf("written: %v", m)
	}
}
