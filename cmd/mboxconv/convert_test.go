package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// A 3.6 file converted to twoskip and skiplist: real Cyrus calls the output
// consistent and prints the very same bytes for it (`cyr_dbtool show`,
// `ctl_mboxlist -d`) as for the file it wrote itself; then Cyrus goes on
// writing to it and it stays consistent.
func TestConvert36AcceptedByCyrus(t *testing.T) {
	c := cyrustest.NewConfig(t)
	for _, src := range []string{"sample.twoskip.db", "sample.skiplist.db", "types.twoskip.db", "logform.skiplist.db", "crash.twoskip.db"} {
		srcPath := filepath.Join(fixtures, src)
		wantJSON, _ := cyrusDump(t, c, srcPath, fixtureFormats[src])
		for _, to := range []string{"twoskip", "skiplist"} {
			t.Run(src+"->"+to, func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), "out.db")
				if _, stderr, code := run(t, "convert", srcPath, dst, "--to", to); code != 0 {
					t.Fatalf("convert: exit %d: %s", code, stderr)
				}
				cp := cyrusConsistent(t, c, dst, "conv.db", to)
				gotJSON, gotShow := cyrusDump(t, c, dst, to)
				if !bytes.Equal(gotJSON, wantJSON) {
					t.Errorf("ctl_mboxlist -d of the output differs from the source's: %s", firstDiff(gotJSON, wantJSON))
				}
				// Same records as the source (the source's reverse ACLs are
				// rebuilt by rule, so this also checks the rule).
				_, srcShow := cyrusDump(t, c, srcPath, fixtureFormats[src])
				// (Only for files Cyrus made whole: logform and crash hold
				// N records without their I records, which a writer adds.)
				if to == fixtureFormats[src] && (strings.HasPrefix(src, "sample") || strings.HasPrefix(src, "types")) {
					if !bytes.Equal(gotShow, srcShow) {
						t.Errorf("cyr_dbtool show of the output differs from the source's: %s", firstDiff(gotShow, srcShow))
					}
				}
				// Cyrus can go on writing to it.
				c.MustRun(t, "cyr_dbtool", cp, to, "set", "Nuser\x1Fnew", "%(T e P default M 1)")
				c.MustRun(t, "cyr_dbtool", cp, to, "delete", "Nuser\x1Fnew")
				if out := c.MustRun(t, "cyr_dbtool", cp, to, "consistent"); !bytes.Contains(out, []byte("Yes, consistent")) {
					t.Fatalf("consistent after Cyrus's writes: %s", out)
				}
			})
		}
	}
}

// Old files to 3.6: real Cyrus reads the output as a 3.6 file (no upgrade
// runs: the file is kept as is by ctl_cyrusdb -r) and prints exactly what
// `mboxconv dump` shows for the old file — every entry, also the ones
// Cyrus's own upgrade drops.
func TestConvertOldTo36(t *testing.T) {
	for _, src := range []string{"v2x.skiplist.db", "v25.twoskip.db", "v34.twoskip.db"} {
		t.Run(src, func(t *testing.T) {
			c := cyrustest.NewConfig(t)
			srcPath := filepath.Join(fixtures, src)
			want, _, code := run(t, "dump", srcPath)
			if code != 0 {
				t.Fatal("dump failed")
			}
			dst := filepath.Join(t.TempDir(), "out.db")
			_, stderr, code := run(t, "convert", srcPath, dst, "--to", "twoskip")
			if src == "v2x.skiplist.db" {
				// user.ext has a legacy specialuse, which a 3.6 N record
				// cannot hold (Cyrus moves it to the annotations).
				if code != exitcode.Lossy || !strings.Contains(stderr, "user.ext: legacy_specialuse") {
					t.Fatalf("convert: exit %d, want 7 naming the legacy specialuse: %s", code, stderr)
				}
				_, stderr, code = run(t, "convert", srcPath, dst, "--to", "twoskip", "--lossy")
				want = strings.Replace(want, `, "legacy_specialuse": "\\Sent"`, "", 1)
			}
			if code != 0 {
				t.Fatalf("convert: exit %d: %s", code, stderr)
			}
			copyToCyrus(t, c, dst, "mailboxes.db")
			c.MustRun(t, "ctl_cyrusdb", "-r")
			got := c.MustRun(t, "ctl_mboxlist", "-d")
			// ctl_cyrusdb -r deletes RESERVE entries (fixmbox): compare the rest.
			wantLines := jsonLines(want)
			for n, l := range wantLines {
				if strings.Contains(l, `"mbtype": "erzl"`) || strings.Contains(l, `"mbtype": "ezl"`) {
					delete(wantLines, n)
				}
			}
			gotLines := jsonLines(string(got))
			if len(gotLines) != len(wantLines) {
				t.Errorf("Cyrus shows %d entries after ctl_cyrusdb -r, mboxconv dump %d (reserved ones left out)", len(gotLines), len(wantLines))
			}
			for n, w := range wantLines {
				if gotLines[n] != w {
					t.Errorf("%s:\ncyrus: %s\n want: %s", n, gotLines[n], w)
				}
			}
		})
	}
}

// Round trips through the text dumps and the real undump: our JSON and
// legacy-line output, loaded by the real `ctl_mboxlist -u` / `-u -L`,
// gives back the source's entries. And back: Cyrus's own JSON dump
// converted by mboxconv gives the same file contents Cyrus built.
func TestConvertRoundTripsThroughRealUndump(t *testing.T) {
	src := filepath.Join(fixtures, "sample.twoskip.db")
	dir := t.TempDir()

	// json: 3.6's undump skips entries without uniqueid, sets mtime to now.
	js := filepath.Join(dir, "out.json")
	if _, stderr, code := run(t, "convert", src, js, "--to", "json"); code != 0 {
		t.Fatalf("convert --to json: exit %d: %s", code, stderr)
	}
	c := cyrustest.NewConfig(t)
	b, _ := os.ReadFile(js)
	if r := c.RunInput(t, b, "ctl_mboxlist", "-u"); r.ExitCode != 0 {
		t.Fatalf("ctl_mboxlist -u: %s", r.Stderr)
	}
	back := filepath.Join(dir, "back.db")
	if _, stderr, code := run(t, "convert", c.MailboxesDB(), back, "--to", "twoskip"); code != 0 {
		t.Fatalf("convert back: %s", stderr)
	}
	out, _, code := run(t, "verify", src, back)
	if code != exitcode.Difference {
		t.Fatalf("verify after the JSON undump: exit %d, want 1 (entries without uniqueid are skipped by Cyrus)\n%s", code, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(l, "different:"):
		case strings.HasPrefix(l, "only in "+src+": user.dave"), strings.HasPrefix(l, "only in "+src+": user.frank"):
		default:
			t.Errorf("unexpected difference after the JSON undump: %s", l)
		}
	}

	// legacy 3.6 lines (-u -L) keep entries without uniqueid.
	lines := filepath.Join(dir, "out.lines")
	if _, stderr, code := run(t, "convert", src, lines, "--to", "legacy"); code != 0 {
		t.Fatalf("convert --to legacy: exit %d: %s", code, stderr)
	}
	c2 := cyrustest.NewConfig(t)
	b, _ = os.ReadFile(lines)
	if r := c2.RunInput(t, b, "ctl_mboxlist", "-u", "-L"); r.ExitCode != 0 {
		t.Fatalf("ctl_mboxlist -u -L: %s", r.Stderr)
	}
	if out, _, code := run(t, "verify", src, c2.MailboxesDB()); code != 0 {
		t.Errorf("verify after the -u -L undump: exit %d, want 0 (every entry kept):\n%s", code, out)
	}

	// Cyrus's own JSON dump (the golden) → twoskip by mboxconv: Cyrus
	// prints the same dump for it, byte for byte (mtimes included).
	fromJSON := filepath.Join(dir, "fromjson.db")
	if _, stderr, code := run(t, "convert", filepath.Join(fixtures, "types.twoskip.db.json"), fromJSON, "--to", "twoskip"); code != 0 {
		t.Fatalf("convert json->twoskip: %s", stderr)
	}
	gotJSON, _ := cyrusDump(t, c, fromJSON, "twoskip")
	want, _ := os.ReadFile(filepath.Join(fixtures, "types.twoskip.db.json"))
	if !bytes.Equal(gotJSON, want) {
		t.Errorf("ctl_mboxlist -d of mboxconv's twoskip made from Cyrus's dump: %s", firstDiff(gotJSON, want))
	}
}

// Going back to an old version: losses are listed and refused (exit 7)
// unless --lossy; with --lossy, real Cyrus reads the 2.4 skiplist, and
// converting it forward again keeps what 2.4 can hold.
func TestConvertBackLossy(t *testing.T) {
	src := filepath.Join(fixtures, "sample.twoskip.db")
	dir := t.TempDir()
	dst := filepath.Join(dir, "v24.db")
	_, stderr, code := run(t, "convert", src, dst, "--to", "skiplist", "--cyrus-version", "2.4")
	if code != exitcode.Lossy || !strings.Contains(stderr, "loss: user.alice: uniqueid") {
		t.Fatalf("convert to 2.4 without --lossy: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("DST written although the conversion was refused")
	}
	if _, stderr, code = run(t, "convert", src, dst, "--to", "skiplist", "--cyrus-version", "2.4", "--lossy"); code != 0 {
		t.Fatalf("--lossy: exit %d: %s", code, stderr)
	}
	c := cyrustest.NewConfig(t)
	cp := cyrusConsistent(t, c, dst, "v24.db", "skiplist")
	show := c.MustRun(t, "cyr_dbtool", cp, "skiplist", "show")
	if !bytes.Contains(show, []byte("user.dave\t17 backend2!default dave\tlrswipkxtecdan\tgroup:staff\tlr\t\n")) &&
		!bytes.Contains(show, []byte("user.dave\t1 backend2!default dave\tlrswipkxtecdan\tgroup:staff\tlr\t\n")) {
		t.Errorf("2.4 value of the remote entry not found in:\n%s", show)
	}
	out, _, code := run(t, "dump", "--format", "legacy", "--cyrus-version", "2.4", dst)
	if code != 0 || !strings.Contains(out, "user.dave\t1 backend2!default dave\t") {
		t.Errorf("2.4 legacy dump of the rollback file (exit %d):\n%s", code, out)
	}
}

func TestConvertUsage(t *testing.T) {
	src := filepath.Join(fixtures, "sample.twoskip.db")
	dst := filepath.Join(t.TempDir(), "x")
	for _, args := range [][]string{
		{"convert", src, dst},
		{"convert", src, dst, "--to", "flat"},
		{"convert", src, dst, "--to", "json", "--cyrus-version", "3.4"},
		{"convert", src, dst, "--to", "twoskip", "--cyrus-version", "2.4"},
		{"convert", src, dst, "--to", "twoskip", "--reverseacls", "maybe"},
		{"convert", src, "--to", "twoskip"},
	} {
		if _, stderr, code := run(t, args...); code != exitcode.Usage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}
