package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	out, stderr, code := run(t, "inspect", filepath.Join(fixtures, "sample.twoskip.db"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"format:     twoskip", "num_records 45", "values:     Cyrus 3.6", "mailboxes:  18",
		"racl 11", "by-id 15", "remote 4", "reserved 2", "backend2 4", "(local) 14", "p2 2", "example.com 2",
		"calendar 1", "no uniqueid:  3", "crash tail: none", "damage:     none",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect sample: %q missing in\n%s", want, out)
		}
	}
	out, _, code = run(t, "inspect", filepath.Join(fixtures, "crash.skiplist.db"))
	if code != 0 || !strings.Contains(out, "crash tail: uncommitted tail at offset ") || !strings.Contains(out, "damage:     none") {
		t.Errorf("inspect crash.skiplist.db: exit %d\n%s", code, out)
	}
	for name, want := range map[string]string{"v2x.skiplist.db": "Cyrus 2.4", "v25.twoskip.db": "Cyrus 2.5", "v34.twoskip.db": "Cyrus 3.4"} {
		out, _, code := run(t, "inspect", filepath.Join(fixtures, name))
		if code != 0 || !strings.Contains(out, "values:     "+want) {
			t.Errorf("inspect %s: exit %d, want %q\n%s", name, code, want, out)
		}
	}
	out, _, code = run(t, "inspect", filepath.Join(fixtures, "sample.twoskip.db.json"))
	if code != 0 || !strings.Contains(out, "format:     json") || !strings.Contains(out, "mailboxes:  18") {
		t.Errorf("inspect of a JSON dump: exit %d\n%s", code, out)
	}
}
