package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// Every fixture made by real Cyrus: `mboxconv dump --raw` prints the bytes
// the real `cyr_dbtool show` prints, and for 3.6 files `mboxconv dump` the
// bytes the real `ctl_mboxlist -d` prints — both run here, on the same
// file, and also compared with the committed goldens.
func TestDumpMatchesRealCyrus(t *testing.T) {
	c := cyrustest.NewConfig(t)
	names := make([]string, 0, len(fixtureFormats))
	for n := range fixtureFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(fixtures, name)
			wantJSON, wantShow := cyrusDump(t, c, path, fixtureFormats[name])
			raw, stderr, code := run(t, "dump", "--raw", path)
			if code != 0 {
				t.Fatalf("dump --raw: exit %d: %s", code, stderr)
			}
			if !bytes.Equal([]byte(raw), wantShow) {
				t.Errorf("dump --raw differs from cyr_dbtool show: %s", firstDiff([]byte(raw), wantShow))
			}
			golden, err := os.ReadFile(path + ".show")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(golden, wantShow) {
				t.Errorf("testdata/%s.show is stale: regenerate with make fixtures", name)
			}
			js, stderr, code := run(t, "dump", path)
			if code != 0 {
				t.Fatalf("dump: exit %d: %s", code, stderr)
			}
			if strings.HasPrefix(name, "crash.") != strings.Contains(stderr, "uncommitted tail at offset") {
				t.Errorf("crash-tail note on stderr = %q", stderr)
			}
			if !is36(name) {
				// Cyrus 3.6 prints nothing for a pre-3.6 file; ours is
				// checked against Cyrus's upgrade in TestDumpOldMatchesUpgrade.
				return
			}
			if !bytes.Equal([]byte(js), wantJSON) {
				t.Errorf("dump differs from ctl_mboxlist -d: %s", firstDiff([]byte(js), wantJSON))
			}
		})
	}
}

// A pre-3.6 file: `mboxconv dump` shows what Cyrus 3.6 shows after its own
// upgrade (`ctl_cyrusdb -r` run here), for every entry the upgrade keeps,
// and also keeps what the upgrade drops (entries without uniqueid, remote
// entries). Cyrus sets mtime to the upgrade time, and the upgrade loses
// createdmodseq/foldermodseq, so those members are left out of the
// comparison; everything else must be equal byte for byte.
func TestDumpOldMatchesUpgrade(t *testing.T) {
	for _, name := range []string{"v2x.skiplist.db", "v25.twoskip.db", "v34.twoskip.db"} {
		t.Run(name, func(t *testing.T) {
			c := cyrustest.NewConfig(t)
			copyToCyrus(t, c, filepath.Join(fixtures, name), "mailboxes.db")
			c.MustRun(t, "ctl_cyrusdb", "-r")
			upgraded := jsonLines(string(c.MustRun(t, "ctl_mboxlist", "-d")))
			out, stderr, code := run(t, "dump", filepath.Join(fixtures, name))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			ours := jsonLines(out)
			if len(upgraded) == 0 {
				t.Fatal("Cyrus's upgrade kept no entry: the fixture is not what this test expects")
			}
			for n, cy := range upgraded {
				o, ok := ours[n]
				if !ok {
					t.Errorf("%s: in Cyrus's upgrade, not in mboxconv dump", n)
					continue
				}
				if o != cy {
					t.Errorf("%s:\n ours: %s\ncyrus: %s", n, o, cy)
				}
			}
			if len(ours) <= len(upgraded) {
				t.Errorf("mboxconv kept %d entries, Cyrus's upgrade %d: expected ours to keep the dropped ones too", len(ours), len(upgraded))
			}
		})
	}
}

// jsonLines splits a ctl_mboxlist -d dump into its entry lines by name,
// with mtime and the modseqs blanked.
func jsonLines(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSuffix(l, ",")
		if !strings.HasPrefix(l, `"`) {
			continue
		}
		i := strings.Index(l, `": {`)
		for _, f := range []string{"mtime", "createdmodseq", "foldermodseq"} {
			l = blankMember(l, f)
		}
		m[l[1:i]] = l
	}
	return m
}

func blankMember(l, name string) string {
	k := `"` + name + `": "`
	i := strings.Index(l, k)
	if i < 0 {
		return l
	}
	j := strings.IndexByte(l[i+len(k):], '"')
	return l[:i+len(k)] + "…" + l[i+len(k)+j:]
}

// Damage is an error with the offset (exit 3), never silently partial
// output; --salvage then prints every intact record and lists the skip.
func TestDumpDamage(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(fixtures, "sample.twoskip.db"))
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte inside the key of a record in the middle of the file
	// (Cyrus 3.6.1 itself prints a partial list and exits 0 on this).
	i := bytes.Index(src, []byte("Nshared\x1FTeam Folder"))
	if i < 0 {
		t.Fatal("key not found in the fixture")
	}
	bad := bytes.Clone(src)
	bad[i+3] ^= 0x01
	path := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"dump", path}, {"dump", "--raw", path}, {"inspect", path}} {
		out, stderr, code := run(t, args...)
		if code != exitcode.Input {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitcode.Input, stderr)
		}
		if !strings.Contains(stderr+out, "offset ") || !strings.Contains(stderr+out, "crc32") {
			t.Errorf("%v: the error does not name the offset and the check: %q", args, stderr+out)
		}
	}
	out, stderr, code := run(t, "dump", "--raw", "--salvage", path)
	if code != exitcode.Input || !strings.Contains(stderr, "skipped offset") {
		t.Errorf("salvage: exit %d, stderr %q; want exit 3 and the skipped place listed", code, stderr)
	}
	want, _ := os.ReadFile(filepath.Join(fixtures, "sample.twoskip.db.show"))
	got := map[string]bool{}
	for _, l := range strings.SplitAfter(out, "\n") {
		got[l] = true
	}
	missing := 0
	for _, l := range strings.SplitAfter(string(want), "\n") {
		if l != "" && !got[l] {
			missing++
		}
	}
	if missing != 1 {
		t.Errorf("salvage lost %d records, want exactly the damaged one", missing)
	}
	if strings.Contains(out, "Nshared\x1FTeam Folder\t") {
		t.Errorf("salvage printed the damaged record")
	}

	// Truncated: the committed data is cut, not a crash tail.
	trunc := filepath.Join(t.TempDir(), "trunc.db")
	if err := os.WriteFile(trunc, src[:len(src)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "dump", trunc); code != exitcode.Input || !strings.Contains(stderr, "offset") {
		t.Errorf("truncated: exit %d, stderr %q", code, stderr)
	}
	// Not a mailboxes.db at all: bad magic at offset 0.
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte("hello world, not a database\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "dump", junk); code != exitcode.Input || !strings.Contains(stderr, "offset 0 (0x0)") {
		t.Errorf("junk: exit %d, stderr %q", code, stderr)
	}
}

func TestDumpUsage(t *testing.T) {
	for _, args := range [][]string{
		{"dump"},
		{"dump", "--format", "xml", filepath.Join(fixtures, "sample.twoskip.db")},
		{"dump", "--cyrus-version", "9.9", filepath.Join(fixtures, "sample.twoskip.db")},
		{"dump", "--raw", "--format", "json", filepath.Join(fixtures, "sample.twoskip.db")},
		{"dump", "--raw", filepath.Join(fixtures, "sample.twoskip.db.json")},
		{"dump", "--no-such-flag", filepath.Join(fixtures, "sample.twoskip.db")},
	} {
		if _, stderr, code := run(t, args...); code != exitcode.Usage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
	out, _, code := run(t, "dump", "--help")
	if code != 0 || !strings.Contains(out, "EXIT STATUS") || !strings.Contains(out, "Examples:") {
		t.Errorf("dump --help: exit %d, no EXIT STATUS or examples:\n%s", code, out)
	}
}
