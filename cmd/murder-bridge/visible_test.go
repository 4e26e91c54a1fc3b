package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

func mbox(name string, typ mboxlist.MBType, acl ...string) registry.Entry {
	e := registry.Entry{}
	e.Name, e.Server, e.Partition, e.Type = name, "be1", "default", typ
	for i := 0; i+1 < len(acl); i += 2 {
		e.ACL = append(e.ACL, mboxlist.ACLItem{ID: acl[i], Rights: acl[i+1]})
	}
	return e
}

func TestVisibleCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	s, err := leveldb.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := "lrswipkxtecdan"
	for _, e := range []registry.Entry{
		mbox("user.fred", 0, "fred", all),
		mbox("user.fred.&AOk-t&AOk- 2024", 0, "fred", all),
		mbox("user.fred.Sent", 0, "fred", all),
		mbox("user.fred.#calendars.Default", mboxlist.TypeCalendar, "fred", all),
		mbox("user.alice", 0, "alice", all, "group:staff", "lr"),
		mbox("shared.news", 0, "anyone", "lrs"),
		mbox("DELETED.user.fred.Old.5F000000", 0, "fred", all),
	} {
		if _, err := s.Create(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	run := func(args ...string) (string, error) {
		cmd := newVisibleCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), err
	}
	got, err := run("fred", "--group", "staff", "--registry", "leveldb://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	want := "user.fred\nuser.fred.&AOk-t&AOk- 2024\nuser.fred.Sent\nuser.alice\nshared.news\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("visible fred --group staff (-want +got):\n%s", diff)
	}
	got, _ = run("fred", "--registry", "leveldb://"+dir)
	if want := "user.fred\nuser.fred.&AOk-t&AOk- 2024\nuser.fred.Sent\nshared.news\n"; got != want {
		t.Errorf("visible fred = %q, want %q", got, want)
	}
	if _, err := run("fred"); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("visible without --registry = %v", err)
	}
	if _, err := run("a!b", "--registry", "leveldb://"+dir); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("visible of a bad userid = %v", err)
	}
	// Held by another opener: a registry error (exit 5) naming the path.
	held, err := leveldb.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := run("fred", "--registry", "leveldb://"+dir); exitcode.Of(err) != exitcode.Registry {
		t.Errorf("visible on a locked registry = %v (exit %d)", err, exitcode.Of(err))
	}
}

func TestQueryDoesNotCreateRegistry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	_, err := openQueryRegistry(context.Background(), "leveldb://"+dir)
	if exitcode.Of(err) != exitcode.Registry {
		t.Fatalf("open of a missing registry = %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a query created %s", dir)
	}
}
