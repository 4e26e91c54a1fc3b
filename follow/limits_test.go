package follow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
)

// A master that holds entries real Cyrus cannot hold (a Cyrus master takes
// any name, ACL or location) does not poison the registry, and through it
// the bridge's frontends: the follower skips them, in the full list and
// live, logs and counts them, and keeps following.
func TestFollowSkipsWhatCyrusCannotHold(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := startMaster(t, ctx)
	const be = "127.0.0.1:11143!default"
	owner := "user." + strings.Repeat("x", mboxlist.MaxUserIDLen+1)
	long := "shared." + strings.Repeat("y", mboxlist.MaxNameLen)
	m.write(t,
		act("user.alice", be, "alice\tlrswipkxtecdan\t"),
		act(owner, be, "anyone\tlr\t"),
		act(long, be, "anyone\tlr\t"),
		act("shared.rights", be, "anyone\tlrq\t"),
		mupdate.Request{Op: mupdate.OpReserve, Name: "shared.part", Location: "be!" + strings.Repeat("p", 65)},
	)
	st := openStore(t)
	f, err := follow.New(follow.Config{Addr: m.addr, User: "murder", Password: "murderpw", Store: st, Logger: quiet(),
		NoopInterval: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fctx, fstop := context.WithCancel(ctx)
	defer fstop()
	go f.Run(fctx)
	if !eventually.WaitTrue(10*time.Second, func() bool { return f.Status().Synced }) {
		t.Fatalf("never synced: %+v", f.Status())
	}
	if s := f.Status(); s.LastSync.Refused != 4 || s.LastSync.Created != 1 || s.Refused != 4 {
		t.Errorf("resync = %+v, refused %d; want 1 created, 4 refused", s.LastSync, s.Refused)
	}
	// live: a bad one, then a good one, which arrives (still following)
	m.write(t, act(owner+"y", be, "anyone\tlr\t"), act("user.bob", be, "bob\tlr\t"))
	if !eventually.WaitTrue(10*time.Second, func() bool { _, err := st.Get(ctx, "user.bob"); return err == nil }) {
		t.Fatalf("user.bob never arrived after a refused entry: %+v", f.Status())
	}
	if s := f.Status(); s.Refused != 5 || !s.Connected {
		t.Errorf("status = %+v, want 5 refused and connected", s)
	}
	got := regList(t, st)
	if len(got) != 2 {
		t.Errorf("registry holds %d entries, want user.alice and user.bob", len(got))
	}
	for _, n := range []string{owner, owner + "y", long, "shared.rights", "shared.part"} {
		if _, err := st.Get(ctx, n); err == nil || !(errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrInvalid)) {
			t.Errorf("%.40s...: in the registry (%v)", n, err)
		}
	}
}
