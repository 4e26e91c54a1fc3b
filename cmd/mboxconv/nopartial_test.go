package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// damagedLate copies a fixture and breaks the CRC of its last N record, so
// that a dump fails half-way, after it printed the records before.
func damagedLate(t *testing.T, fixture string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, fixture))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b, []byte("Nuser"))
	if i < 0 {
		t.Fatal("no N record found")
	}
	b[i+3] ^= 0x20
	p := filepath.Join(t.TempDir(), "damaged-"+fixture)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var dumpModes = map[string]dumpOptions{
	"json":   {format: "json", cyrusVersion: "3.6"},
	"legacy": {format: "legacy", cyrusVersion: "3.6"},
	"raw":    {raw: true, format: "json", cyrusVersion: "3.6"},
}

// A dump that fails half-way (damage found after records were printed)
// leaves nothing on stdout, whatever stdout is: an in-memory writer, a pipe,
// a regular file (truncated back, also when opened for appending), and the
// same dump of the intact file prints everything to each.
func TestDumpNothingPartialOnError(t *testing.T) {
	// (twoskip: its records carry a CRC, so the damage is found where it is)
	for _, fx := range []string{"sample.twoskip.db", "types.twoskip.db"} {
		bad := damagedLate(t, fx)
		good := filepath.Join(fixtures, fx)
		for mode, o := range dumpModes {
			t.Run(fx+"/"+mode, func(t *testing.T) {
				// in process, as main runs it (stdout a buffer)
				args := []string{"dump", bad}
				switch mode {
				case "legacy":
					args = []string{"dump", "--format", "legacy", bad}
				case "raw":
					args = []string{"dump", "--raw", bad}
				}
				out, stderr, code := run(t, args...)
				if code != exitcode.Input || out != "" || !strings.Contains(stderr, "crc32 mismatch") {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 3, nothing on stdout", args, code, out, stderr)
				}
				var want bytes.Buffer
				if err := runDump(context.Background(), o, good, &want, io.Discard); err != nil || want.Len() == 0 {
					t.Fatalf("dump of the intact file: %v", err)
				}

				// a regular file, truncated and appended to
				dir := t.TempDir()
				for _, flag := range []int{os.O_TRUNC, os.O_APPEND} {
					p := filepath.Join(dir, "out")
					os.WriteFile(p, []byte("kept\n"), 0o644)
					f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|flag, 0o644)
					if err != nil {
						t.Fatal(err)
					}
					err = runDump(context.Background(), o, bad, f, io.Discard)
					f.Close()
					got, _ := os.ReadFile(p)
					before := "kept\n"
					if flag == os.O_TRUNC {
						before = ""
					}
					if exitcode.Of(err) != exitcode.Input || string(got) != before {
						t.Errorf("stdout a file (flag %#x): err %v, file holds %q, want %q", flag, err, clip(got), before)
					}
					f, _ = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|flag, 0o644)
					err = runDump(context.Background(), o, good, f, io.Discard)
					f.Close()
					got, _ = os.ReadFile(p)
					if err != nil || string(got) != before+want.String() {
						t.Errorf("stdout a file (flag %#x), intact source: err %v, %d bytes, want %d", flag, err, len(got), len(before)+want.Len())
					}
				}

				// a pipe
				for _, src := range []string{bad, good} {
					pr, pw, err := os.Pipe()
					if err != nil {
						t.Fatal(err)
					}
					got := make(chan []byte)
					go func() { b, _ := io.ReadAll(pr); got <- b }()
					err = runDump(context.Background(), o, src, pw, io.Discard)
					pw.Close()
					b := <-got
					pr.Close()
					if src == bad && (exitcode.Of(err) != exitcode.Input || len(b) != 0) {
						t.Errorf("stdout a pipe: err %v, %d bytes came through: %q", err, len(b), clip(b))
					}
					if src == good && (err != nil || !bytes.Equal(b, want.Bytes())) {
						t.Errorf("stdout a pipe, intact source: err %v, %d bytes, want %d", err, len(b), want.Len())
					}
				}
			})
		}
	}
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// A live file replaced (Cyrus's checkpoint renames a new file over it)
// while dump reads it: exit 3 "changed while reading", and nothing on
// stdout (a pipe here), for the JSON, legacy and raw dumps. The
// replacement is made the moment the dump has the file open (seen in
// /proc/self/fd), so it always lands inside the read.
func TestDumpLiveFileChangedNothingPartial(t *testing.T) {
	dir := t.TempDir()
	src := trialSource(t, dir, 40000)
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for mode, o := range dumpModes {
		t.Run(mode, func(t *testing.T) {
			// On a loaded machine the watcher may be scheduled only after
			// the read's last check: then the dump is a whole, consistent
			// snapshot and exits 0. Try until the replacement lands inside.
			changed := 0
			for try := 0; try < 8 && changed == 0; try++ {
				repl := filepath.Join(dir, "replacement.db")
				if err := os.WriteFile(repl, orig, 0o644); err != nil {
					t.Fatal(err)
				}
				os.WriteFile(src, orig, 0o644)
				ctx, cancel := context.WithCancel(context.Background())
				replaced := make(chan bool, 1)
				go func() { replaced <- replaceWhenOpen(ctx, src, repl) }()
				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				got := make(chan []byte)
				go func() { b, _ := io.ReadAll(pr); got <- b }()
				var stderr bytes.Buffer
				err = runDump(context.Background(), o, src, pw, &stderr)
				pw.Close()
				b := <-got
				pr.Close()
				cancel()
				<-replaced
				switch {
				case err == nil:
					if len(b) == 0 {
						t.Errorf("exit 0 with nothing on stdout")
					}
				case errors.Is(err, cyrusdb.ErrChanged) && exitcode.Of(err) == exitcode.Input:
					changed++
					if len(b) != 0 {
						t.Errorf("exit 3 with %d bytes on stdout: %q", len(b), clip(b))
					}
				default:
					t.Fatalf("dump of a file replaced while read: err %v (exit %d), want exit 3 changed while reading", err, exitcode.Of(err))
				}
			}
			if changed == 0 {
				t.Fatal("the replacement never landed inside the read: nothing was tested")
			}
		})
	}
}

// replaceWhenOpen renames repl over path as soon as this process has path
// open; it reports whether it did.
func replaceWhenOpen(ctx context.Context, path, repl string) bool {
	for ctx.Err() == nil {
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && l == path {
				return os.Rename(repl, path) == nil
			}
		}
		// a tight poll on purpose (not internal/eventually): the rename
		// must land while the read is under way
		time.Sleep(100 * time.Microsecond)
	}
	return false
}

// A database file whose magic number is damaged is reported as a damaged
// header at offset 0, exit 3 — not taken for a legacy dump (and `dump
// --raw` does not call it a usage error).
func TestDumpDamagedMagic(t *testing.T) {
	for _, fx := range []string{"sample.skiplist.db", "sample.twoskip.db", "v2x.skiplist.db"} {
		for _, off := range []int{0, 1, 3, 4, 9} {
			b, err := os.ReadFile(filepath.Join(fixtures, fx))
			if err != nil {
				t.Fatal(err)
			}
			b[off] ^= 0x55
			p := filepath.Join(t.TempDir(), fx)
			os.WriteFile(p, b, 0o644)
			for _, args := range [][]string{{"dump", p}, {"dump", "--raw", p}, {"inspect", p}, {"verify", p, p}} {
				out, stderr, code := run(t, args...)
				if code != exitcode.Input || out != "" || !strings.Contains(stderr, "offset 0 (0x0): damaged header") {
					t.Errorf("%s with byte %d damaged, %v: exit %d, stdout %q, stderr %q; want exit 3, damaged header at offset 0", fx, off, args[:len(args)-1], code, clip([]byte(out)), stderr)
				}
			}
		}
	}
	// a text file is still a dump, and binary data is not
	bin := filepath.Join(t.TempDir(), "bin")
	os.WriteFile(bin, []byte("user.x\t0 default \x00\x01\x02"), 0o644)
	if _, stderr, code := run(t, "dump", "--raw", bin); code != exitcode.Input || !strings.Contains(stderr, "NUL") {
		t.Errorf("binary data: exit %d, %s", code, stderr)
	}
}

// Output larger than what is held in memory goes through the temporary
// file: whole on commit, nothing on abort; the file is never visible in
// TMPDIR.
func TestWholeOutSpillsToTempFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 kB
	n := spoolMem/len(chunk) + 40
	for _, ok := range []bool{true, false} {
		var dst bytes.Buffer
		w, err := newWholeOut(&dst, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		if w.spool.f == nil {
			t.Fatal("more than spoolMem held in memory")
		}
		if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
			t.Errorf("the temporary file is visible in TMPDIR: %v", ents)
		}
		var ferr error
		if !ok {
			ferr = errors.New("failed")
		}
		err = w.finish(ferr)
		switch {
		case ok && (err != nil || dst.Len() != n*len(chunk)):
			t.Errorf("commit: %v, %d bytes, want %d", err, dst.Len(), n*len(chunk))
		case !ok && (err == nil || dst.Len() != 0):
			t.Errorf("abort: %v, %d bytes reached stdout", err, dst.Len())
		}
	}
}
