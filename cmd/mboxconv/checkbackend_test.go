package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// What check-backend calls held by the backend follows Cyrus 3.6's
// mboxlist_lookup, which `ctl_mboxlist -m` asks for each entry the master
// places on the backend (docs/runbook.md step 4): a tombstone (d), an
// intermediate (i) or a reservation (z) is not a mailbox the backend
// holds. Only the registry's primary location counts; --partition narrows
// both sides. The real-Cyrus case is interop.TestCheckBackendNamesMasterOnlyEntries.
func TestCompareBackend(t *testing.T) {
	typ := func(s string) mboxlist.MBType {
		t.Helper()
		m, err := mboxlist.ParseType36(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	be := map[string]mboxlist.Entry{}
	for n, ty := range map[string]string{
		"user.a": "e", "user.tomb": "ed", "user.inter": "edi", "user.res": "ez",
		"user.local": "e", "user.elsewhere": "e", "user.p2": "e", "DELETED.user.x.65A0B1C2": "e",
		"example.com!user.d": "e",
	} {
		e := mboxlist.Entry{Name: n, Type: typ(ty), Partition: "default"}
		if n == "user.p2" {
			e.Partition = "p2"
		}
		be[n] = e
	}
	reg := map[string]registry.Entry{}
	for n, loc := range map[string]string{
		"user.a": "be1!default", "user.tomb": "be1!default", "user.inter": "be1!default", "user.res": "be1!default",
		"user.gone": "be1!default", "user.elsewhere": "be2!default", "user.other": "be2!default", "user.p2": "be1!p2",
		"DELETED.user.x.65A0B1C2": "be1!", "example.com!user.d": "be1!default", "example.com!user.dgone": "be1!default",
	} {
		srv, part, _ := strings.Cut(loc, "!")
		e := registry.Entry{}
		e.Name, e.Server, e.Partition, e.Type = n, srv, part, typ("e")
		reg[n] = e
	}
	names := func(s []staleEntry) []string {
		var out []string
		for _, e := range s {
			out = append(out, e.Name+"|"+e.Location+"|"+e.Backend)
		}
		return out
	}
	res := compareBackendWith(checkBackendOptions{server: "be1"}, be, reg)
	if d := cmp.Diff([]string{"example.com!user.dgone|be1!default|", "user.gone|be1!default|", "user.inter|be1!default|edi", "user.res|be1!default|ez", "user.tomb|be1!default|ed"}, names(res.MasterOnly)); d != "" {
		t.Errorf("master-only (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"user.elsewhere|be2!default|e", "user.local||e"}, names(res.BackendOnly)); d != "" {
		t.Errorf("backend-only (-want +got):\n%s", d)
	}
	if res.Clean || res.Compared != 9 || res.Held != 6 {
		t.Errorf("clean %v, compared %d (want 9), held %d (want 6)", res.Clean, res.Compared, res.Held)
	}
	res = compareBackendWith(checkBackendOptions{server: "be1", partition: "p2"}, be, reg)
	if !res.Clean || res.Compared != 1 || res.Held != 1 {
		t.Errorf("--partition p2: %+v", res)
	}
}

func TestCheckBackendUsage(t *testing.T) {
	js := filepath.Join(fixtures, "sample.twoskip.db.json")
	if _, stderr, code := run(t, "check-backend", js, "leveldb:///nonexistent"); code != exitcode.Usage || !strings.Contains(stderr, "--server NAME is required") {
		t.Errorf("without --server: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := run(t, "check-backend", js, "leveldb://"+filepath.Join(t.TempDir(), "none"), "--server", "be1"); code != exitcode.Registry {
		t.Errorf("a registry that does not exist: exit %d, want %d\n%s", code, exitcode.Registry, stderr)
	}
	if out, stderr, code := run(t, "check-backend", filepath.Join(t.TempDir(), "missing.db"), "leveldb:///x", "--server", "be1"); code != exitcode.Input || out != "" {
		t.Errorf("a backend file that does not exist: exit %d, stdout %q\n%s", code, out, stderr)
	}
}
