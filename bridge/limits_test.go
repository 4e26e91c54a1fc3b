package bridge_test

import (
	"context"
	"errors"
	"strings"
	"testing"

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
