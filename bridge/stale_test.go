package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// Two bridges on different members of a three-member etcd cluster write
// the same names back to back, through the real stale-read path
// (registry.StaleReader: the store's cache, else a serializable read of
// its own member); every answer must be what the cluster's state gives: a
// RESERVE of a name the other bridge just reserved elsewhere is refused, a
// DELETE of a name the other bridge just reserved succeeds, and a DELETE
// of a name just deleted is refused. On loopback the members rarely lag,
// so this checks the path end to end but does not force a stale read;
// TestStaleFirstReadGivesCurrentAnswers does (it fails without the re-read
// of a refusal).
func TestWritesOnStaleMembers(t *testing.T) {
	ctx := context.Background()
	c := etcdtest.Start(t, 3, &etcdtest.Options{FirstIP: 93})
	open := func(i int) *bridge.Adapter {
		u := "etcd://" + strings.TrimPrefix(c.Members[i].ClientURL, "http://") + "/stale"
		st, err := registry.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, ok := st.(registry.StaleReader); !ok {
			t.Fatalf("%T is no registry.StaleReader", st)
		}
		return bridge.New(st)
	}
	a, b := open(0), open(2)
	for i := range 60 {
		name := fmt.Sprintf("user.stale%02d", i)
		if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: name, Location: "A!p"}); err != nil {
			t.Fatalf("%s: A's RESERVE: %v", name, err)
		}
		if err := b.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: name, Location: "B!p"}); !errors.Is(err, mupdate.ErrExists) {
			t.Fatalf("%s: B's RESERVE of a name reserved on A: %v, want exists", name, err)
		}
		if err := b.Write(ctx, mupdate.Request{Op: mupdate.OpDelete, Name: name}); err != nil {
			t.Fatalf("%s: B's DELETE of a name A reserved: %v", name, err)
		}
		if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpDelete, Name: name}); !errors.Is(err, mupdate.ErrNotExist) {
			t.Fatalf("%s: A's DELETE of a name B deleted: %v, want doesn't exist", name, err)
		}
	}
}

// frozen is a store whose GetStale answers from a copy taken earlier: the
// worst a lagging etcd member can do, made certain.
type frozen struct {
	registry.Store
	old map[string]registry.Entry
}

func (f *frozen) GetStale(ctx context.Context, name string) (registry.Entry, error) {
	if e, ok := f.old[name]; ok {
		return e, nil
	}
	return registry.Entry{}, registry.E("get", name, registry.ErrNotFound)
}

// Every answer the adapter gives on a stale first read is the one the
// current state gives: writes on stale state fail their compare-and-set and
// are retried, and refusals are re-read.
func TestStaleFirstReadGivesCurrentAnswers(t *testing.T) {
	ctx := context.Background()
	st, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mk := func(name, server string) {
		e := registry.Entry{}
		e.Name, e.Server, e.Partition = name, server, "p"
		if _, err := st.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	mk("user.moved", "A")
	mk("user.gone", "A")
	f := &frozen{Store: st, old: map[string]registry.Entry{}}
	if _, err := st.List(ctx, "", func(e registry.Entry) error { f.old[e.Name] = e; return nil }); err != nil {
		t.Fatal(err)
	}
	// after the copy: user.gone deleted, user.moved deleted, user.new and
	// user.other created
	for _, n := range []string{"user.gone", "user.moved"} {
		if _, err := st.Delete(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
	}
	mk("user.new", "C")
	mk("user.other", "C")
	a := bridge.New(f)
	for _, c := range []struct {
		req  mupdate.Request
		want error
	}{
		{mupdate.Request{Op: mupdate.OpReserve, Name: "user.moved", Location: "B!p"}, nil},               // stale: exists on A
		{mupdate.Request{Op: mupdate.OpDelete, Name: "user.new"}, nil},                                   // stale: absent
		{mupdate.Request{Op: mupdate.OpReserve, Name: "user.other", Location: "B!p"}, mupdate.ErrExists}, // stale: absent
		{mupdate.Request{Op: mupdate.OpDelete, Name: "user.gone"}, mupdate.ErrNotExist},                  // stale: present
		{mupdate.Request{Op: mupdate.OpDeactivate, Name: "user.gone", Location: "A!p"}, mupdate.ErrNotActive},
	} {
		err := a.Write(ctx, c.req)
		if (c.want == nil && err != nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%v %s: %v, want %v", c.req.Op, c.req.Name, err, c.want)
		}
	}
	if e, err := st.Get(ctx, "user.moved"); err != nil || e.Server != "B" {
		t.Errorf("user.moved after RESERVE on B: %+v, %v", e, err)
	}
}
