package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

func tempRegistry(t *testing.T) *leveldb.Store {
	t.Helper()
	s, err := leveldb.Open(context.Background(), filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestLookupMatchesCtlMboxlist: real Cyrus 3.6.1 undumps entries and dumps
// them with ctl_mboxlist -d; the same entries, read into the registry, come
// out of lookup with every member ctl_mboxlist printed, the same values,
// plus locations and revision.
func TestLookupMatchesCtlMboxlist(t *testing.T) {
	c := cyrustest.NewConfig(t)
	dump := `{
"user.fred": {"name": "user.fred", "mtime": "0", "uidvalidity": "1600000000", "createdmodseq": "1", "foldermodseq": "5", "mbtype": "e", "partition": "default", "acl": {"fred": "lrswipkxtecdan", "anyone": "lrs", "-bob": "l"}, "uniqueid": "abc-123-fred"},
"example.com!user.jane.Sent": {"name": "example.com!user.jane.Sent", "mtime": "0", "uidvalidity": "1600000003", "createdmodseq": "4", "foldermodseq": "8", "mbtype": "er", "partition": "p2", "server": "backend1", "acl": {"jane@example.com": "lrswipkxtecdan"}, "uniqueid": "abc-126-jane", "legacy_specialuse": "\\Sent"}
}
`
	c.RunInput(t, []byte(dump), "ctl_mboxlist", "-u")
	out := c.MustRun(t, "ctl_mboxlist", "-d")
	var cyrus map[string]map[string]any
	if err := json.Unmarshal(out, &cyrus); err != nil {
		t.Fatalf("ctl_mboxlist -d printed %q: %v", out, err)
	}
	if len(cyrus) != 2 {
		t.Fatalf("ctl_mboxlist -d gave %d entries, want 2:\n%s", len(cyrus), out)
	}
	s := tempRegistry(t)
	ctx := context.Background()
	d := mboxlist.NewJSONDecoder(bytes.NewReader(out))
	for d.Next() {
		e := registry.Entry{Entry: *d.Entry()}
		if e.Server != "" {
			// A second location after the primary.
			e.Locations = []registry.Location{{Server: e.Server, Partition: e.Partition}, {Server: "backend2", Partition: "default"}}
		}
		if _, err := s.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
	for name, want := range cyrus {
		var buf bytes.Buffer
		if err := runLookup(ctx, s, name, &buf); err != nil {
			t.Fatalf("runLookup(%s) = %v", name, err)
		}
		if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.HasSuffix(buf.String(), "}\n") {
			t.Errorf("lookup output is not one JSON object on one line: %q", buf.String())
		}
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("lookup printed %q: %v", buf.String(), err)
		}
		e, _ := s.Get(ctx, name)
		var wantLocs []any
		for _, l := range e.Locations {
			wantLocs = append(wantLocs, l.String())
		}
		if diff := cmp.Diff(wantLocs, got["locations"]); diff != "" {
			t.Errorf("%s locations (-want +got):\n%s", name, diff)
		}
		if got["revision"] != float64(e.Revision) {
			t.Errorf("%s revision = %v, want %d", name, got["revision"], e.Revision)
		}
		delete(got, "locations")
		delete(got, "revision")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lookup %s vs ctl_mboxlist -d (-cyrus +lookup):\n%s", name, diff)
		}
	}
	if loc := cyrus["example.com!user.jane.Sent"]; loc["server"] != "backend1" {
		t.Errorf("Cyrus stored server %v", loc["server"])
	}
}

func TestLookupErrors(t *testing.T) {
	s := tempRegistry(t)
	ctx := context.Background()
	var buf bytes.Buffer
	err := runLookup(ctx, s, "user.nobody", &buf)
	if exitcode.Of(err) != exitcode.Registry || !strings.Contains(err.Error(), "not found") {
		t.Errorf("lookup of an absent mailbox = %v (exit %d)", err, exitcode.Of(err))
	}
	e := registry.Entry{}
	e.Name, e.Server, e.Partition = "user.gone", "be1", "default"
	if _, err := s.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "user.gone", 0); err != nil {
		t.Fatal(err)
	}
	err = runLookup(ctx, s, "user.gone", &buf)
	if exitcode.Of(err) != exitcode.Registry || !strings.Contains(err.Error(), "deleted at revision") {
		t.Errorf("lookup of a deleted mailbox = %v", err)
	}
	err = runLookup(ctx, s, "user..bad", &buf)
	if exitcode.Of(err) != exitcode.Usage {
		t.Errorf("lookup of a bad name = %v (exit %d), want usage", err, exitcode.Of(err))
	}
	if buf.Len() != 0 {
		t.Errorf("errors printed on stdout: %q", buf.String())
	}
}

// TestLookupCommand runs the cobra command end to end on a leveldb URL.
func TestLookupCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	s, err := leveldb.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := registry.Entry{}
	e.Name, e.Server, e.Partition = "user.fred", "be1", "default"
	if _, err := s.Create(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	s.Close()
	cmd := newLookupCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"user.fred", "--registry", "leveldb://" + dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"locations": ["be1!default"]`) {
		t.Errorf("lookup printed %q", out.String())
	}
	cmd = newLookupCommand()
	cmd.SetArgs([]string{"user.fred"})
	if err := cmd.Execute(); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("lookup without --registry = %v", err)
	}
}
