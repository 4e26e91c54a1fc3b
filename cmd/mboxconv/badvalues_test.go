package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/exitcode"
)

// damaged copies a fixture into a temporary file with the first occurrence
// of old replaced by new (same length: a damaged byte, not a shifted file).
func damaged(t *testing.T, fixture string, old, new []byte) (path string, off int) {
	t.Helper()
	if len(old) != len(new) {
		t.Fatal("damaged: old and new differ in length")
	}
	b, err := os.ReadFile(filepath.Join(fixtures, fixture))
	if err != nil {
		t.Fatal(err)
	}
	off = bytes.Index(b, old)
	if off < 0 {
		t.Fatalf("%s: %q not found", fixture, old)
	}
	copy(b[off:], new)
	path = filepath.Join(t.TempDir(), fixture)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, off
}

// every file reader refuses it: exit 3, the message says want, nothing on
// stdout; import stores nothing and says nothing is verified.
func refusedEverywhere(t *testing.T, path string, want ...string) {
	t.Helper()
	reg := "leveldb://" + filepath.Join(t.TempDir(), "reg")
	for _, args := range [][]string{
		{"dump", path},
		{"convert", path, filepath.Join(t.TempDir(), "out.json"), "--to", "json"},
		{"import", path, "--registry", reg, "--checkpoint", filepath.Join(t.TempDir(), "cp")},
		{"verify", path, filepath.Join(fixtures, "sample.twoskip.db")},
	} {
		out, stderr, code := run(t, args...)
		if code != exitcode.Input {
			t.Errorf("%s: exit %d, want %d\n%s%s", args[0], code, exitcode.Input, out, stderr)
			continue
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: the error does not say %q:\n%s", args[0], w, stderr)
			}
		}
		if args[0] == "dump" && out != "" {
			t.Errorf("dump printed %d bytes before failing", len(out))
		}
		if strings.Contains(out+stderr, "verified") {
			t.Errorf("%s: says verified:\n%s%s", args[0], out, stderr)
		}
	}
}

// skiplist has no checksums: a damaged byte inside a value or a key is
// read back as it is, so what it decodes to is validated (the same check
// as every write path of the bridge), with the key and the offset.
func TestDamagedSkiplistValuesRefused(t *testing.T) {
	t.Run("right letter that does not exist", func(t *testing.T) {
		// user.fred's ACL "fred lrswipkxtecda anyone lrs": lrs -> lqs
		path, _ := damaged(t, "v2x.skiplist.db", []byte("anyone\tlrs\t"), []byte("anyone\tlqs\t"))
		// the record's offset: its type and key length come before the key
		b, _ := os.ReadFile(path)
		rec := bytes.Index(b, []byte("\x00\x00\x00\x09user.fred\x00")) - 4
		refusedEverywhere(t, path, `record "user.fred"`, "'q' is not a right", fmt.Sprintf("offset %d (", rec))
	})
	t.Run("control byte in a name", func(t *testing.T) {
		// the key user.fred.&AOk-t&AOk- -> user.fred.\x01AOk-t&AOk- (still
		// after user.fred and before the next key: the order holds)
		path, _ := damaged(t, "v2x.skiplist.db", []byte("user.fred.&AOk-"), []byte("user.fred.\x01AOk-"))
		refusedEverywhere(t, path, `record "user.fred.\x01AOk-t&AOk-"`, "byte 0x01", "offset")
	})
}

// The same values in a dump (text anyone can edit; Cyrus's ctl_mboxlist -u
// stores whatever it is given).
func TestBadDumpValuesRefused(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"rights.json":  `{"user.fred": {"mbtype": "e", "partition": "default", "uniqueid": "u1", "uidvalidity": "1", "createdmodseq": "1", "foldermodseq": "1", "acl": {"fred": "lrq"}}}` + "\n",
		"name.json":    `{"user.fr\u0001ed": {"mbtype": "e", "partition": "default", "uniqueid": "u1", "uidvalidity": "1", "createdmodseq": "1", "foldermodseq": "1"}}` + "\n",
		"type.json":    `{"user.fred": {"mbtype": "ec", "partition": "default", "uniqueid": "u1", "uidvalidity": "1", "createdmodseq": "1", "foldermodseq": "1"}}` + "\n",
		"owner.legacy": "user." + strings.Repeat("x", 248) + "\t0 default anyone\tlr\t\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { refusedEverywhere(t, p) })
	}
}

// A legacy dump cut short inside the rights or the partition: every line
// Cyrus writes ends with a newline, so a last line without one is refused
// (Cyrus's ctl_mboxlist -u would store the cut record as it is).
func TestLegacyDumpCutShortRefused(t *testing.T) {
	// a legacy dump of the fixture, as mboxconv writes it
	src := filepath.Join(t.TempDir(), "full.legacy")
	if _, stderr, code := run(t, "convert", filepath.Join(fixtures, "v2x.skiplist.db"), src, "--to", "legacy", "--lossy"); code != 0 {
		t.Fatalf("convert to legacy: %s", stderr)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, code := run(t, "dump", src); code != 0 {
		t.Fatalf("the whole dump: exit %d", code)
	}
	last := bytes.LastIndexByte(b[:len(b)-1], '\n') + 1
	line := string(b[last:])
	for _, cut := range []struct{ what, at string }{
		{"inside the rights", "\tlrswip"},
		{"inside the partition", "!defa"},
	} {
		i := strings.Index(line, cut.at)
		if i < 0 {
			t.Fatalf("last line %q has no %q", line, cut.at)
		}
		n := last + i + len(cut.at)
		p := filepath.Join(t.TempDir(), "cut.legacy")
		if err := os.WriteFile(p, b[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(cut.what, func(t *testing.T) {
			refusedEverywhere(t, p, "no final newline", "cut short", fmt.Sprintf("offset %d", last))
		})
	}
}

// A zero-byte file is not "0 mailboxes, verified": Cyrus's own empty
// skiplist and twoskip files have headers (testdata/empty.*.db).
func TestZeroByteFileRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mailboxes.db")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	refusedEverywhere(t, p, "the file is empty (0 bytes)")
	for _, f := range []string{"empty.skiplist.db", "empty.twoskip.db"} {
		if out, stderr, code := run(t, "dump", filepath.Join(fixtures, f)); code != 0 {
			t.Errorf("Cyrus's own empty file %s: exit %d\n%s%s", f, code, out, stderr)
		}
	}
}
