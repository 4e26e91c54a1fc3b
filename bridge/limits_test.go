package bridge_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
)

// RESERVE, ACTIVATE and DEACTIVATE of what real Cyrus cannot hold are
// refused with Cyrus's words and store nothing; a bad entry that is
// already stored (written before this check existed) can still be deleted.
func TestWriteRefusesWhatCyrusCannotHold(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := bridge.New(st)
	long := "user." + strings.Repeat("x", mboxlist.MaxUserIDLen+1)
	for _, c := range []struct {
		req  mupdate.Request
		text string
	}{
		{mupdate.Request{Op: mupdate.OpReserve, Name: long, Location: "be!default"}, mboxlist.TextBadName},
		{mupdate.Request{Op: mupdate.OpActivate, Name: long, Location: "be!default", ACL: "anyone\tlr\t"}, mboxlist.TextBadName},
		{mupdate.Request{Op: mupdate.OpActivate, Name: "user.fred\x01", Location: "be!default"}, mboxlist.TextBadName},
		{mupdate.Request{Op: mupdate.OpActivate, Name: "user.fred", Location: "be!" + strings.Repeat("p", 65)}, mboxlist.TextBadPartition},
		{mupdate.Request{Op: mupdate.OpActivate, Name: "user.fred", Location: "b e!default"}, mboxlist.TextBadServer},
		{mupdate.Request{Op: mupdate.OpActivate, Name: "user.fred", Location: "be!default", ACL: "fred\tlrq\t"}, mboxlist.TextBadRights},
		{mupdate.Request{Op: mupdate.OpActivate, Name: "user.fred", Location: "be!default", ACL: strings.Repeat("somebody\tlr\t", 20000)}, mboxlist.TextBadACL},
		{mupdate.Request{Op: mupdate.OpDeactivate, Name: "user.fred", Location: "be!a b"}, mboxlist.TextBadPartition},
	} {
		err := a.Write(ctx, c.req)
		var me *mupdate.Error
		if !errors.As(err, &me) || me.Text != c.text || !errors.Is(err, mupdate.ErrInvalid) || !errors.Is(err, mboxlist.ErrCyrusLimit) {
			t.Errorf("%s %.40q %.40q: %v, want NO %q", c.req.Op, c.req.Name, c.req.Location, err, c.text)
		}
		if _, err := st.Get(ctx, c.req.Name); err == nil && c.req.Name != "user.fred" {
			t.Errorf("%s %.40q: stored anyway (%v)", c.req.Op, c.req.Name, err)
		}
	}
	if _, err := st.Get(ctx, "user.fred"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("user.fred stored by a refused write: %v", err)
	}
	// The limit itself is accepted.
	ok := "user." + strings.Repeat("x", mboxlist.MaxUserIDLen)
	if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: ok, Location: "be!default", ACL: "anyone\tlr\t"}); err != nil {
		t.Fatalf("ACTIVATE of a %d-byte owner: %v", mboxlist.MaxUserIDLen, err)
	}
	// A bad entry stored directly (an older bridge) is deleted over MUPDATE.
	bad := registry.Entry{Entry: mboxlist.Entry{Name: long, Type: mboxlist.FlagRemote, Server: "be", Partition: "default"}}
	if _, err := st.Create(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpDelete, Name: long}); err != nil {
		t.Fatalf("DELETE of a stored bad name: %v", err)
	}
}

// An entry stored before the write paths checked names (or by a tool that
// bypasses them) is never sent to MUPDATE clients: not in FIND, LIST or the
// UPDATE feed, not even its DELETE; the feed still makes progress past it.
func TestStoredUnsafeEntryNotSent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := openStore(t)
	a := bridge.New(st)
	a.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	bad := "user." + strings.Repeat("x", mboxlist.MaxUserIDLen+1)
	put := func(name string) int64 {
		e, err := st.Create(ctx, registry.Entry{Entry: mboxlist.Entry{Name: name, Type: mboxlist.FlagRemote, Server: "be", Partition: "default"}})
		if err != nil {
			t.Fatal(err)
		}
		return e.Revision
	}
	put(bad)
	put("user.good")
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	snap.Range(ctx, func(m mupdate.Mailbox) error { names = append(names, m.Name); return nil })
	snap.Close()
	if len(names) != 1 || names[0] != "user.good" {
		t.Errorf("LIST sends %d names (%.30q), want user.good only", len(names), names)
	}
	if _, ok, err := a.Lookup(ctx, bad); ok || err != nil {
		t.Errorf("FIND of the bad name: found %v, %v", ok, err)
	}
	from := snap.Revision()
	// an update of the bad entry, its deletion, then a good write
	e, _ := st.Get(ctx, bad)
	e.Partition = "p2"
	e.Locations = nil
	if _, err := st.Update(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpDelete, Name: bad}); err != nil {
		t.Fatalf("DELETE of the bad name: %v", err)
	}
	last := put("user.later")
	var got []string
	var progress int64
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	a.Watch(wctx, from, func(ch mupdate.Change) error {
		if ch.Name != "" {
			got = append(got, ch.Name)
		}
		progress = max(progress, ch.Revision)
		if ch.Revision >= last {
			wcancel()
		}
		return nil
	})
	if len(got) != 1 || got[0] != "user.later" {
		t.Errorf("UPDATE feed sent %.40q, want user.later only", got)
	}
	if progress < last {
		t.Errorf("feed stopped at revision %d, want %d", progress, last)
	}
}
