package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/exitcode"
)

// FuzzDump feeds arbitrary bytes to `mboxconv inspect`, `dump` and
// `dump --raw` as a file: whatever the content (database file, JSON or
// legacy dump, junk), the commands never panic and fail only with exit
// status 2 (--raw of a dump) or 3 (damaged input) — never 9 (a bug).
// Seeded with every fixture of testdata/.
func FuzzDump(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.db*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 16<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte("user.fred\t0 default fred\tlrs\t\n"))
	f.Add([]byte("{\n}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "in")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(what string, err error) {
			if err == nil {
				return
			}
			if errors.Is(err, context.Canceled) {
				return
			}
			if c := exitcode.Of(err); c != exitcode.Input && c != exitcode.Usage && c != exitcode.Lossy {
				t.Fatalf("%s: exit status %d for input %q: %v", what, c, data, err)
			}
		}
		// A hang is a bug too (a pointer loop followed forever): give each
		// input a time limit and show where it was stuck.
		done := make(chan struct{})
		var errs [4]error
		go func() {
			defer close(done)
			errs[0] = runInspect(ctx, path, io.Discard, io.Discard)
			errs[1] = runDump(ctx, dumpOptions{format: "json", cyrusVersion: "3.6"}, path, io.Discard, io.Discard)
			errs[2] = runDump(ctx, dumpOptions{raw: true, format: "json", cyrusVersion: "3.6"}, path, io.Discard, io.Discard)
			errs[3] = runDump(ctx, dumpOptions{format: "legacy", cyrusVersion: "2.4"}, path, io.Discard, io.Discard)
		}()
		select {
		case <-done:
		case <-time.After(hangLimit):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("no answer after %v for input %q:\n%s", hangLimit, data, buf[:n])
		}
		for i, what := range []string{"inspect", "dump", "dump --raw", "dump --format legacy"} {
			check(what, errs[i])
		}
	})
}

// hangLimit bounds one fuzz input; every fixture takes milliseconds.
const hangLimit = 3 * time.Second
