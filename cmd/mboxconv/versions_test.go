package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// The per-release fixtures (testdata/versions/VERSION, made by
// testdata/make-version-fixtures.sh): one IMAP history played against real
// Cyrus 3.2.6, 3.6.1, 3.10.2 and 3.12.4, with each release's own
// `ctl_mboxlist -d` (.dump) and `cyr_dbtool show` (.show) of the file.
var releaseVersions = []string{"3.2", "3.6", "3.10", "3.12"}

var releaseFiles = []struct{ name, format string }{
	{"mailboxes.db", "twoskip"},
	{"mailboxes.skiplist.db", "skiplist"},
}

func releaseFixture(version, name string) string {
	return filepath.Join(fixtures, "versions", version, name)
}

// dumpArgs are the mboxconv dump flags that print what the release's own
// `ctl_mboxlist -d` prints: dump lines for 3.2, JSON after.
func dumpArgs(version string) []string {
	if version == "3.2" {
		return []string{"--format", "legacy", "--cyrus-version", "3.2"}
	}
	return nil
}

// releaseConfig is a scratch configuration of the release in its chroot,
// set up as the fixtures' server was (virtual domains by userid).
func releaseConfig(t *testing.T, version string) *cyrustest.Config {
	t.Helper()
	return cyrustest.NewConfigIn(t, cyrustest.ReleaseOf(t, version), "virtdomains: userid")
}

func readFixture(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("fixture %s missing (%v): sudo testdata/make-version-fixtures.sh", p, err)
	}
	return b
}

// `mboxconv dump` of each release's file prints what that release's
// `ctl_mboxlist -d` printed, and `dump --raw` what its `cyr_dbtool show`
// printed, byte for byte.
func TestReleaseFixturesDump(t *testing.T) {
	for _, v := range releaseVersions {
		for _, f := range releaseFiles {
			t.Run(v+"/"+f.name, func(t *testing.T) {
				path := releaseFixture(v, f.name)
				out, errs, code := run(t, append(append([]string{"dump"}, dumpArgs(v)...), path)...)
				if code != 0 {
					t.Fatalf("dump: exit %d: %s", code, errs)
				}
				if want := readFixture(t, path+".dump"); !bytes.Equal([]byte(out), want) {
					t.Errorf("dump differs from Cyrus %s ctl_mboxlist -d: %s", v, firstDiff([]byte(out), want))
				}
				out, errs, code = run(t, "dump", "--raw", path)
				if code != 0 {
					t.Fatalf("dump --raw: exit %d: %s", code, errs)
				}
				if want := readFixture(t, path+".show"); !bytes.Equal([]byte(out), want) {
					t.Errorf("dump --raw differs from Cyrus %s cyr_dbtool show: %s", v, firstDiff([]byte(out), want))
				}
			})
		}
	}
}

// The goldens are what each release prints today: its own ctl_mboxlist -d
// and cyr_dbtool show, run in its chroot on the fixture, equal the saved
// files (so the fixtures are that release's, and the harness runs it).
func TestReleaseGoldensAreTheRelease(t *testing.T) {
	for _, v := range releaseVersions {
		t.Run(v, func(t *testing.T) {
			c := releaseConfig(t, v)
			for _, f := range releaseFiles {
				path := releaseFixture(v, f.name)
				dump, show := cyrusDump(t, c, path, f.format)
				if want := readFixture(t, path+".dump"); !bytes.Equal(dump, want) {
					t.Errorf("%s: Cyrus %s ctl_mboxlist -d now prints other bytes: %s", f.name, v, firstDiff(dump, want))
				}
				if want := readFixture(t, path+".show"); !bytes.Equal(show, want) {
					t.Errorf("%s: Cyrus %s cyr_dbtool show now prints other bytes: %s", f.name, v, firstDiff(show, want))
				}
			}
		})
	}
}

// convertFor converts src to dst for a release and format. A conversion to
// 3.2 of a 3.6-and-later file loses the name history (3.2 keeps none) and
// the uniqueid layout of the mailboxes' files (3.6 mailboxes without `l`;
// 3.2 looks for files by name): it must refuse with exit 7 naming only such
// losses, and is then run with --lossy. Every other pair must convert
// without loss.
func convertFor(t *testing.T, from, to, format, src, dst string) {
	t.Helper()
	args := []string{"convert", src, dst, "--to", format, "--cyrus-version", to}
	_, errs, code := run(t, args...)
	if code == exitcode.Lossy && from != "3.2" && to == "3.2" {
		for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
			if strings.HasPrefix(l, "mboxconv: loss: ") && !strings.Contains(l, ": history: ") && !strings.Contains(l, ": legacy_dirs: ") {
				t.Fatalf("convert %s → %s: a loss other than history: %s", from, to, l)
			}
		}
		_, errs, code = run(t, append(args, "--lossy")...)
	}
	if code != 0 {
		t.Fatalf("convert %s → %s %s: exit %d: %s", from, to, format, code, errs)
	}
}

// Every release's file converted to every runnable release and format, and
// the written file given to that release: its cyr_dbtool finds the file
// consistent, its ctl_mboxlist -d prints what `mboxconv dump` prints for the
// file, and a conversion to the file's own release writes the original
// records byte for byte (cyr_dbtool show and ctl_mboxlist -d equal the
// release's goldens).
func TestReleaseConvert(t *testing.T) {
	for _, from := range releaseVersions {
		for _, to := range releaseVersions {
			t.Run(from+"→"+to, func(t *testing.T) {
				c := releaseConfig(t, to)
				src := releaseFixture(from, "mailboxes.db")
				for _, f := range releaseFiles {
					dst := filepath.Join(t.TempDir(), "out."+f.format)
					convertFor(t, from, to, f.format, src, dst)
					checkGivenBack(t, c, to, f.format, dst)
					if from != to {
						continue
					}
					raw, _, code := run(t, "dump", "--raw", dst)
					if want := readFixture(t, releaseFixture(from, "mailboxes.db.show")); code != 0 || !bytes.Equal([]byte(raw), want) {
						t.Errorf("%s: records differ from Cyrus %s's own (exit %d): %s", f.format, from, code, firstDiff([]byte(raw), want))
					}
					dump, _ := cyrusDump(t, c, dst, f.format)
					if want := readFixture(t, releaseFixture(from, "mailboxes.db.dump")); !bytes.Equal(dump, want) {
						t.Errorf("%s: Cyrus %s ctl_mboxlist -d of the converted file differs from the original's: %s", f.format, to, firstDiff(dump, want))
					}
				}
				if from != "3.2" || to != "3.2" {
					// (--to json keeps the name history, which
					// ctl_mboxlist -d does not print: not compared)
					return
				}
				// 3.2 dump lines: its ctl_mboxlist -d bytes
				to := "legacy"
				dst := filepath.Join(t.TempDir(), "out."+to)
				if _, errs, code := run(t, "convert", src, dst, "--to", to, "--cyrus-version", from); code != 0 {
					t.Fatalf("convert --to %s: exit %d: %s", to, code, errs)
				}
				got, want := readFixture(t, dst), readFixture(t, releaseFixture(from, "mailboxes.db.dump"))
				if to == "legacy" {
					// convert keeps intermediates (type 256 in 3.2's
					// numbering), which ctl_mboxlist -d leaves out
					var keep [][]byte
					for _, l := range bytes.SplitAfter(got, []byte("\n")) {
						if !bytes.Contains(l, []byte("\t256 ")) {
							keep = append(keep, l)
						}
					}
					got = bytes.Join(keep, nil)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("convert --to %s --cyrus-version %s differs from the release's ctl_mboxlist -d: %s", to, from, firstDiff(got, want))
				}
			})
		}
	}
}

// checkGivenBack gives a written file to release v: cyr_dbtool consistent,
// and its ctl_mboxlist -d equals mboxconv's dump of the same file.
func checkGivenBack(t *testing.T, c *cyrustest.Config, v, format, path string) {
	t.Helper()
	cp := copyToCyrus(t, c, path, "given-back.db")
	r := c.Run(t, "cyr_dbtool", cp, format, "consistent")
	if r.ExitCode != 0 || strings.TrimSpace(string(r.Stdout)) != "Yes, consistent" {
		t.Errorf("Cyrus %s cyr_dbtool %s consistent: exit %d, %q %q", v, format, r.ExitCode, r.Stdout, r.Stderr)
	}
	dump, _ := cyrusDump(t, c, path, format)
	out, errs, code := run(t, append(append([]string{"dump"}, dumpArgs(v)...), path)...)
	if code != 0 {
		t.Fatalf("mboxconv dump of the written file: exit %d: %s", code, errs)
	}
	if !bytes.Equal(dump, []byte(out)) {
		t.Errorf("%s: Cyrus %s ctl_mboxlist -d and mboxconv dump of the written file differ: %s", format, v, firstDiff([]byte(out), dump))
	}
}

// A registry that imported a release's file exports, for that release, the
// file's records byte for byte (import then export), and the release reads
// the export (checkGivenBack).
func TestReleaseImportExport(t *testing.T) {
	for _, v := range releaseVersions {
		t.Run(v, func(t *testing.T) {
			c := releaseConfig(t, v)
			reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
			src := releaseFixture(v, "mailboxes.db")
			if _, errs, code := run(t, "import", "--registry", reg, src); code != 0 {
				t.Fatalf("import: exit %d: %s", code, errs)
			}
			for _, f := range releaseFiles {
				dst := filepath.Join(t.TempDir(), "export."+f.format)
				if _, errs, code := run(t, "export", "--registry", reg, dst, "--to", f.format, "--cyrus-version", v); code != 0 {
					t.Fatalf("export %s: exit %d: %s", f.format, code, errs)
				}
				checkGivenBack(t, c, v, f.format, dst)
				raw, _, _ := run(t, "dump", "--raw", dst)
				if want := readFixture(t, releaseFixture(v, "mailboxes.db.show")); !bytes.Equal([]byte(raw), want) {
					t.Errorf("%s: exported records differ from Cyrus %s's own: %s", f.format, v, firstDiff([]byte(raw), want))
				}
			}
		})
	}
}

// A file converted for a release is the mailboxes.db its imapd goes on
// writing to: the release's cyrmaster starts on it (its recovery runs),
// its imapd creates, renames a folder with subfolders, renames a user, sets
// group and negative ACLs and deletes (delayed) over IMAP, and the result
// still reads exactly: mboxconv dump and dump --raw equal that release's
// ctl_mboxlist -d and cyr_dbtool show, and cyr_dbtool finds it consistent.
// (The converted entries have no spool here, so the commands work on new
// mailboxes; the converted ones must survive unchanged around them.)
func TestReleaseIMAPDWritesConvertedFile(t *testing.T) {
	for _, v := range releaseVersions {
		t.Run(v, func(t *testing.T) {
			c := releaseConfig(t, v)
			db := c.MailboxesDB()
			convertFor(t, v, v, "twoskip", releaseFixture(v, "mailboxes.db"), db)
			if err := c.Chown(db); err != nil {
				t.Fatal(err)
			}
			before, _, code := run(t, append(append([]string{"dump"}, dumpArgs(v)...), db)...)
			if code != 0 {
				t.Fatalf("dump of the converted file: exit %d", code)
			}
			s := c.StartIMAPD(t)
			cmds := []string{
				"CREATE user.erin", "CREATE user.erin.Projects", "CREATE user.erin.Projects.Old",
				"CREATE user.erin.Trash", "CREATE user.fay@example.com", "CREATE user.fay.Sent@example.com",
				"SETACL user.erin.Projects group:mail lrs", "SETACL user.erin.Projects -bob r",
				"SETACL user.erin.Projects anyone l", "DELETEACL user.erin.Projects anyone",
				"RENAME user.erin.Projects user.erin.Work",
				"SETACL user.erin.Trash admin lrswipkxtecda", "DELETE user.erin.Trash",
				"SETACL user.fay.Sent@example.com admin lrswipkxtecda", "DELETE user.fay.Sent@example.com",
				"RENAME user.erin user.erin2",
				`LIST "" "*"`,
			}
			out, err := murdertest.RawIMAP(s.Addr, s.Admin, s.AdminPassword, cmds...)
			if err != nil {
				t.Fatalf("Cyrus %s imapd: %v\n%v", v, err, out)
			}
			list := strings.Join(out[len(out)-1], "\n")
			for _, want := range []string{"user.erin2.Work.Old", "user.alice.Job.Projects", "shared.team", "user.fay@example.com"} {
				if !strings.Contains(list, want) {
					t.Errorf("Cyrus %s LIST after the writes lacks %s:\n%s", v, want, list)
				}
			}
			s.Stop()
			checkGivenBack(t, c, v, "twoskip", db)
			raw, _, _ := run(t, "dump", "--raw", db)
			_, show := cyrusDump(t, c, db, "twoskip")
			if !bytes.Equal([]byte(raw), show) {
				t.Errorf("dump --raw differs from Cyrus %s cyr_dbtool show after its imapd wrote: %s", v, firstDiff([]byte(raw), show))
			}
			after, _, _ := run(t, append(append([]string{"dump"}, dumpArgs(v)...), db)...)
			// every converted entry is still there, unchanged
			for _, l := range strings.Split(strings.TrimSpace(before), "\n") {
				if l == "{" || l == "}" {
					continue
				}
				if !strings.Contains(after, strings.TrimSuffix(l, ",")) {
					t.Errorf("Cyrus %s imapd changed or dropped a converted entry: %s", v, l)
				}
			}
			if !strings.Contains(after, "user.erin2.Work") || !strings.Contains(after, "DELETED.user.erin.Trash.") {
				t.Errorf("Cyrus %s: the imapd's writes are not in the file:\n%s", v, after)
			}
		})
	}
}
