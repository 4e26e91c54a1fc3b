package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// 3.6 fixtures through the registry and back out: real Cyrus finds every
// exported database consistent and its `ctl_mboxlist -d` prints the same
// bytes as for the file Cyrus wrote; the JSON export is those bytes; the
// legacy export verifies equal to the source.
func TestExportAcceptedByCyrus(t *testing.T) {
	c := cyrustest.NewConfig(t)
	for _, src := range []string{"sample.twoskip.db", "sample.skiplist.db", "types.twoskip.db", "empty.twoskip.db"} {
		srcPath := filepath.Join(fixtures, src)
		reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
		if out, stderr, code := run(t, "import", srcPath, "--registry", reg); code != 0 {
			t.Fatalf("%s: import: exit %d\n%s%s", src, code, out, stderr)
		}
		wantJSON, _ := cyrusDump(t, c, srcPath, fixtureFormats[src])
		for _, to := range []string{"twoskip", "skiplist", "json", "legacy"} {
			t.Run(src+"->"+to, func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), "out."+to)
				args := []string{"export", "--registry", reg, dst, "--to", to, "--reverseacls", "on"}
				if to == "legacy" && src == "types.twoskip.db" {
					// Legacy lines hold no name history: a named loss.
					if _, stderr, code := run(t, args...); code != exitcode.Lossy || !strings.Contains(stderr, "user.tom.Renamed: name_history") {
						t.Fatalf("legacy export of a history: exit %d\n%s", code, stderr)
					}
					args = append(args, "--lossy")
				}
				out, stderr, code := run(t, args...)
				if code != 0 || !strings.Contains(out, "verified") {
					t.Fatalf("export: exit %d\n%s%s", code, out, stderr)
				}
				switch to {
				case "twoskip", "skiplist":
					cyrusConsistent(t, c, dst, "exp.db", to)
					gotJSON, _ := cyrusDump(t, c, dst, to)
					if !bytes.Equal(gotJSON, wantJSON) {
						t.Errorf("ctl_mboxlist -d of the export differs from the source's: %s", firstDiff(gotJSON, wantJSON))
					}
				case "json":
					// The JSON export keeps intermediates (an undump needs
					// them), which ctl_mboxlist -d leaves out: compare with
					// convert's JSON of the source file.
					conv := filepath.Join(t.TempDir(), "conv.json")
					if _, stderr, code := run(t, "convert", srcPath, conv, "--to", "json"); code != 0 {
						t.Fatalf("convert: %s", stderr)
					}
					got, _ := os.ReadFile(dst)
					want, _ := os.ReadFile(conv)
					if !bytes.Equal(got, want) {
						t.Errorf("JSON export differs from convert's JSON of the source: %s", firstDiff(got, want))
					}
				}
				if to == "legacy" && src == "types.twoskip.db" {
					return
				}
				if to == "legacy" && src == "empty.twoskip.db" {
					// No mailbox: zero bytes, as Cyrus's own legacy dump;
					// reading a file of zero bytes is refused (it cannot be
					// told from a file cut to nothing).
					if _, stderr, code := run(t, "verify", srcPath, dst); code != exitcode.Input || !strings.Contains(stderr, "the file is empty") {
						t.Errorf("verify of a zero-byte legacy export: exit %d\n%s", code, stderr)
					}
					return
				}
				if out, _, code := run(t, "verify", srcPath, dst); code != 0 {
					t.Errorf("verify source vs export: exit %d\n%s", code, out)
				}
			})
		}
		// Registry vs file and registry vs registry.
		if out, _, code := run(t, "verify", srcPath, reg); code != 0 {
			t.Errorf("%s: verify file vs registry: exit %d\n%s", src, code, out)
		}
	}
}

// Older versions: a 2.x/2.5/3.4 file imported and exported for its own
// version verifies equal to the source (what the old version holds). The
// registry holds the 3.6 model, in which import marks these entries with
// the legacy-dirs flag (their files are laid out by name), so exporting a
// 2.5 or 3.4 file for its own version loses nothing; 2.x values and the
// legacy lines have no uniqueid, uidvalidity or modseqs: named as losses,
// without --lossy the export refuses (exit 7), with it the result equals
// the source.
func TestExportOldVersions(t *testing.T) {
	for src, v := range map[string]string{"v2x.skiplist.db": "2.4", "v25.twoskip.db": "2.5", "v34.twoskip.db": "3.4"} {
		srcPath := filepath.Join(fixtures, src)
		reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
		if out, stderr, code := run(t, "import", srcPath, "--registry", reg); code != 0 {
			t.Fatalf("%s: import: exit %d\n%s%s", src, code, out, stderr)
		}
		// Legacy lines of 2.4-3.4 carry no uniqueid, uidvalidity or modseqs
		// and 2.5's no server: named as losses, cleared before the export
		// verifies what the file holds.
		tos := []string{fixtureFormats[src], "legacy"}
		for _, to := range tos {
			dst := filepath.Join(t.TempDir(), "out")
			_, stderr, code := run(t, "export", "--registry", reg, dst, "--to", to, "--cyrus-version", v)
			if lossless := to != "legacy" && v != "2.4"; lossless && code != 0 {
				t.Errorf("%s -> %s %s: exit %d, want 0 (nothing lost)\n%s", src, to, v, code, stderr)
			} else if !lossless && (code != exitcode.Lossy || !strings.Contains(stderr, "mboxconv: loss: ")) {
				t.Errorf("%s -> %s %s without --lossy: exit %d\n%s", src, to, v, code, stderr)
			}
			out, stderr, code := run(t, "export", "--registry", reg, dst, "--to", to, "--cyrus-version", v, "--lossy")
			if code != 0 {
				t.Errorf("%s -> %s %s: export: exit %d\n%s%s", src, to, v, code, out, stderr)
				continue
			}
			// The same as converting the file directly.
			conv := filepath.Join(t.TempDir(), "conv")
			if _, stderr, code := run(t, "convert", srcPath, conv, "--to", to, "--cyrus-version", v, "--lossy"); code != 0 {
				t.Fatalf("convert: %s", stderr)
			}
			if out, _, code := run(t, "verify", conv, dst); code != 0 {
				t.Errorf("%s -> %s %s: verify against convert's output: exit %d\n%s", src, to, v, code, out)
			}
		}
	}
}

// A registry entry with two locations does not fit a mailboxes.db: the
// export names it and refuses (exit 7, nothing written) without --lossy.
func TestExportRefusesLoss(t *testing.T) {
	reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
	src := filepath.Join(t.TempDir(), "two.json")
	os.WriteFile(src, []byte(`{"user.a":{"mbtype":"e","partition":"p1","server":"s1","uniqueid":"u1","uidvalidity":"1","foldermodseq":"1","createdmodseq":"1","mtime":"1","acl":{}}}`), 0o600)
	if out, stderr, code := run(t, "import", src, "--registry", reg); code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, stderr)
	}
	// Give it a second location through a second import of the registry
	// entry with Locations set is not possible from a file; use the Store.
	addLocation(t, reg, "user.a", "s2", "p2")
	dst := filepath.Join(t.TempDir(), "out.db")
	_, stderr, code := run(t, "export", "--registry", reg, dst, "--to", "twoskip")
	if code != exitcode.Lossy || !strings.Contains(stderr, "user.a: locations: 2 locations") {
		t.Fatalf("export of two locations: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("DST written despite the refusal")
	}
	out, stderr, code := run(t, "export", "--registry", reg, dst, "--to", "twoskip", "--lossy", "--summary", "json")
	if code != 0 {
		t.Fatalf("--lossy: exit %d\n%s", code, stderr)
	}
	var sum struct {
		Warnings []string `json:"warnings"`
		Verified bool     `json:"verified"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || !sum.Verified || len(sum.Warnings) != 1 {
		t.Fatalf("summary %s: %v", out, err)
	}
}

// Filters select by slot, server, partition, domain and prefix.
func TestExportFilters(t *testing.T) {
	reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
	srcPath := filepath.Join(fixtures, "sample.twoskip.db")
	run(t, "import", srcPath, "--registry", reg, "--server", "be1")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--prefix", "user.nosuchuser"}, "exported 0 mailboxes"},
		{[]string{"--only-server", "nosuch"}, "exported 0 mailboxes"},
	} {
		dst := filepath.Join(t.TempDir(), "out.json")
		args := append([]string{"export", "--registry", reg, dst, "--to", "json"}, c.args...)
		out, stderr, code := run(t, args...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d\n%s%s", c.args, code, out, stderr)
		}
	}
	if _, _, code := run(t, "export", "--registry", reg, "x", "--to", "json", "--slot", "nosuch"); code != exitcode.Usage {
		t.Errorf("unknown slot: exit %d, want 2", code)
	}
}
