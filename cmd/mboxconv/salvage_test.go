package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb/cyrusdbtest"
	"github.com/murderkit/murderkit/internal/exitcode"
)

// A skiplist Cyrus wrote, cut where a later transaction (that deleted one
// key and replaced another) began: `dump --raw --salvage` prints the
// records Cyrus had committed before the cut, names the deleted one and the
// replaced one as possibly stale or resurrected, and exits 3.
func TestSalvageNamesStaleRecords(t *testing.T) {
	e := cyrusdbtest.New(t)
	p := e.Path("cut.db")
	// One cyr_dbtool run (a second one would recover and checkpoint the
	// file first): four transactions, then one that deletes user.b and
	// one that replaces user.c.
	e.Batch(t, p, "skiplist", []cyrusdbtest.Op{cyrusdbtest.Set("user.a", "1"), cyrusdbtest.Set("user.b", "2"), cyrusdbtest.Set("user.c", "3"), cyrusdbtest.Set("user.d", "4"),
		cyrusdbtest.Del("user.b"), cyrusdbtest.Set("user.c", "3-new")})
	full, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Cut where the DELETE of user.b's record starts.
	b := bytes.Index(full, []byte("user.b"))
	del := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 4}, uint32(b-8))
	cut := bytes.Index(full, del)
	if b < 0 || cut < 0 {
		t.Fatalf("no DELETE of user.b's record in the file Cyrus wrote")
	}
	bad := e.Path("bad.db")
	if err := os.WriteFile(bad, full[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := run(t, "dump", "--raw", "--salvage", bad)
	if code != exitcode.Input {
		t.Fatalf("exit %d, want %d; stderr %q", code, exitcode.Input, stderr)
	}
	if out != "user.a\t1\nuser.b\t2\nuser.c\t3\nuser.d\t4\n" {
		t.Errorf("stdout %q", out)
	}
	for _, k := range []string{`"user.b" possibly stale or resurrected`, `"user.c" possibly stale or resurrected`} {
		if !strings.Contains(stderr, k) {
			t.Errorf("stderr does not say %s:\n%s", k, stderr)
		}
	}
	// user.a is the list head's successor: the pointers confirm it.
	for _, k := range []string{`"user.a" possibly`} {
		if strings.Contains(stderr, k) {
			t.Errorf("stderr doubts a record the pointers confirm (%s):\n%s", k, stderr)
		}
	}
	if !strings.Contains(stderr, "may be stale or resurrected") {
		t.Errorf("the summary does not count the doubtful records:\n%s", stderr)
	}
}
