package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/eventually"
)

// TestLoadAgainstMemoryServer runs the built program as bench/mupdate.sh
// does, against its own serve-memory mode: the figures it prints are the
// work it did (a writer count of pairs written, that many mailboxes in the
// full list afterwards, a written name found).
func TestLoadAgainstMemoryServer(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "mupdateload")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := exec.Command(bin, "-mode", "serve-memory", "-listen", addr)
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	if err := eventually.Wait(20*time.Second, func() error { return cyrustest.Greeted(addr) }); err != nil {
		t.Fatalf("serve-memory did not greet on %s: %v", addr, err)
	}
	run := func(args ...string) map[string]string {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, append([]string{"-addr", addr, "-label", "t.", "-timeout", "60s"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("mupdateload %v: %v\n%s", args, err, errb.String())
		}
		got := map[string]string{}
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), "=")
			if !ok || !strings.HasPrefix(k, "t.") {
				t.Fatalf("mupdateload %v printed %q, want label.key=value lines", args, sc.Text())
			}
			got[strings.TrimPrefix(k, "t.")] = v
		}
		return got
	}
	w := run("-mode", "write", "-clients", "3", "-count", "30", "-duration", "30s", "-prefix", "tl")
	if w["write_pairs"] != "30" || w["write_errors"] != "0" || w["write_clients"] != "3" {
		t.Fatalf("write figures %v; want 30 pairs from 3 clients, no errors", w)
	}
	if u := run("-mode", "update"); u["update_entries"] != "30" {
		t.Fatalf("update figures %v; want the 30 written mailboxes", u)
	}
	if f := run("-mode", "waitfind", "-name", "tl.c00.m0000000"); f["waitfind_seconds"] == "" {
		t.Fatalf("waitfind figures %v", f)
	}
}
