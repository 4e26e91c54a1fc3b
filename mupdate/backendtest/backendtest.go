package backendtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mupdate"
)

// Run runs the suite; newBackend must return an empty backend each call.
func Run(t *testing.T, newBackend func(t *testing.T) mupdate.Backend) {
	t.Run("Rules", func(t *testing.T) { testRules(t, newBackend(t)) })
	t.Run("SnapshotOrderAndIsolation", func(t *testing.T) { testSnapshot(t, newBackend(t)) })
	t.Run("SnapshotDoesNotStallWriters", func(t *testing.T) { testNoStall(t, newBackend(t)) })
	t.Run("WatchFromRevision", func(t *testing.T) { testWatch(t, newBackend(t)) })
	t.Run("ConcurrentReserveOneWinner", func(t *testing.T) { testRace(t, newBackend(t)) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mbx(name string, st mupdate.State, loc, acl string) *mupdate.Mailbox {
	return &mupdate.Mailbox{Name: name, State: st, Location: loc, ACL: acl}
}

func req(op mupdate.Op, name, loc, acl string) mupdate.Request {
	return mupdate.Request{Op: op, Name: name, Location: loc, ACL: acl}
}

// testRules replays the conflict table of Cyrus 3.6.1's master (the
// E4 transcript and the crash cases).
func testRules(t *testing.T, b mupdate.Backend) {
	ctx := ctxT(t)
	const L, O = "127.0.0.1:11143!default", "otherhost!default"
	steps := []struct {
		r       mupdate.Request
		wantErr error
		after   *mupdate.Mailbox // nil: absent
	}{
		{req(mupdate.OpReserve, "user.carol", L, ""), nil, mbx("user.carol", mupdate.Reserved, L, "")},
		{req(mupdate.OpReserve, "user.carol", O, ""), mupdate.ErrExists, mbx("user.carol", mupdate.Reserved, L, "")},
		{req(mupdate.OpReserve, "user.carol", L, ""), nil, mbx("user.carol", mupdate.Reserved, L, "")},
		{req(mupdate.OpActivate, "user.carol", L, "carol\tlrswipkxtecdan\t"), nil, mbx("user.carol", mupdate.Active, L, "carol\tlrswipkxtecdan\t")},
		{req(mupdate.OpReserve, "user.carol", O, ""), mupdate.ErrExists, mbx("user.carol", mupdate.Active, L, "carol\tlrswipkxtecdan\t")},
		{req(mupdate.OpDeactivate, "user.carol", L, ""), nil, mbx("user.carol", mupdate.Reserved, L, "")},
		{req(mupdate.OpDeactivate, "user.carol", "otherhost!x", ""), mupdate.ErrNotActive, mbx("user.carol", mupdate.Reserved, L, "")},
		{req(mupdate.OpDeactivate, "user.carol", L, ""), mupdate.ErrNotActive, mbx("user.carol", mupdate.Reserved, L, "")}, // Cyrus aborts here
		{req(mupdate.OpActivate, "user.carol", "otherhost!p2", "carol\tlr\t"), nil, mbx("user.carol", mupdate.Active, "otherhost!p2", "carol\tlr\t")},
		{req(mupdate.OpDelete, "user.carol", "", ""), nil, nil},
		{req(mupdate.OpDelete, "user.carol", "", ""), mupdate.ErrNotExist, nil},     // Cyrus segfaults here
		{req(mupdate.OpDeactivate, "user.carol", L, ""), mupdate.ErrNotActive, nil}, // and here
		{req(mupdate.OpActivate, "user.dave", L, "dave\tlrs\t"), nil, mbx("user.dave", mupdate.Active, L, "dave\tlrs\t")},
		{req(mupdate.OpReserve, "user.dave", L, ""), nil, mbx("user.dave", mupdate.Reserved, L, "")}, // demoted, ACL dropped
		{req(mupdate.OpActivate, "user.erin", "h1!p1", ""), nil, mbx("user.erin", mupdate.Active, "h1!p1", "")},
		{req(mupdate.OpActivate, "user.erin", "h2", "erin\tlrs\t"), nil, mbx("user.erin", mupdate.Active, "h2", "erin\tlrs\t")},
		{req(mupdate.OpDeactivate, "user.erin", "h3!p", ""), nil, mbx("user.erin", mupdate.Reserved, "h3!p", "")}, // reserved at the given location
	}
	for i, st := range steps {
		err := b.Write(ctx, st.r)
		if st.wantErr == nil && err != nil || st.wantErr != nil && !errors.Is(err, st.wantErr) {
			t.Fatalf("step %d %v %s: err %v, want %v", i, st.r.Op, st.r.Name, err, st.wantErr)
		}
		var merr *mupdate.Error
		if st.wantErr != nil && !errors.As(err, &merr) {
			t.Fatalf("step %d: refusal %v is not a *mupdate.Error", i, err)
		}
		m, ok, err := b.Lookup(ctx, st.r.Name)
		if err != nil {
			t.Fatal(err)
		}
		if st.after == nil && ok || st.after != nil && (!ok || m != *st.after) {
			t.Fatalf("step %d %v %s: state %+v (present %v), want %+v", i, st.r.Op, st.r.Name, m, ok, st.after)
		}
	}
}

func names(t *testing.T, s mupdate.Snapshot) []string {
	var out []string
	if err := s.Range(ctxT(t), func(m mupdate.Mailbox) error { out = append(out, m.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func testSnapshot(t *testing.T, b mupdate.Backend) {
	ctx := ctxT(t)
	// Cyrus's order (observed in G): DELETED.* < shared < shared.lab < user.alice
	// < user.alice.&AOk-t&AOk- 2024 < user.alice.Sent < user.bob; a domain's '!'
	// sorts as 0x1D, '.' as 0x1F.
	want := []string{"DELETED.user.alice.Archive.6B0267B0", "example.com!user.x", "shared", "shared.lab", "user.alice", "user.alice.&AOk-t&AOk- 2024", "user.alice.Sent", "user.alice-1", "user.alice^x", "user.bob"}
	for i := len(want) - 1; i >= 0; i-- {
		if err := b.Write(ctx, req(mupdate.OpActivate, want[i], "h!p", "")); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rev := s.Revision()
	if cur, _ := b.Revision(ctx); cur != rev {
		t.Fatalf("snapshot revision %d, backend revision %d", rev, cur)
	}
	if err := b.Write(ctx, req(mupdate.OpDelete, "shared", "", "")); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, req(mupdate.OpActivate, "user.carl", "h!p", "")); err != nil {
		t.Fatal(err)
	}
	got := names(t, s)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshot order/isolation:\n got  %q\n want %q", got, want)
	}
	if cur, _ := b.Revision(ctx); cur <= rev {
		t.Fatalf("revision did not grow: %d after %d", cur, rev)
	}
}

func testNoStall(t *testing.T, b mupdate.Backend) {
	ctx := ctxT(t)
	for i := range 2000 {
		if err := b.Write(ctx, req(mupdate.OpActivate, fmt.Sprintf("user.u%04d", i), "h!p", "")); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A reader stuck in the middle of a dump must not block writers.
	inRange := make(chan struct{})
	release := make(chan struct{})
	go func() {
		first := true
		s.Range(ctx, func(mupdate.Mailbox) error {
			if first {
				first = false
				close(inRange)
				<-release
			}
			return nil
		})
	}()
	<-inRange
	done := make(chan error, 1)
	go func() {
		for i := range 100 {
			if err := b.Write(ctx, req(mupdate.OpActivate, fmt.Sprintf("user.w%03d", i), "h!p", "")); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writes stalled while a snapshot was being read")
	}
	close(release)
}

func testWatch(t *testing.T, b mupdate.Backend) {
	ctx := ctxT(t)
	b.Write(ctx, req(mupdate.OpActivate, "user.a", "h1!p", "a\tl\t"))
	start, _ := b.Revision(ctx)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var got []mupdate.Change
	wdone := make(chan error, 1)
	go func() {
		wdone <- b.Watch(wctx, start, func(c mupdate.Change) error {
			if c.Name == "" {
				return nil // progress mark
			}
			mu.Lock()
			got = append(got, c)
			mu.Unlock()
			return nil
		})
	}()
	writes := []mupdate.Request{
		req(mupdate.OpActivate, "user.a", "h2!p", "a\tl\t"),
		req(mupdate.OpReserve, "user.b", "h1!p", ""),
		req(mupdate.OpDelete, "user.a", "", ""),
		req(mupdate.OpDelete, "user.zz", "", ""), // refused: no change
		req(mupdate.OpActivate, "user.b", "h1!p", "b\tl\t"),
	}
	for _, w := range writes {
		b.Write(ctx, w)
	}
	eventually.WaitTrue(10*time.Second, func() bool { // what came is compared below
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 4
	})
	cancel()
	if err := <-wdone; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v after cancel", err)
	}
	mu.Lock()
	got = append([]mupdate.Change(nil), got...)
	mu.Unlock()
	want := []string{
		"user.a h1!p -> h2!p", "user.b - -> h1!p", "user.a h2!p -> -", "user.b h1!p -> h1!p",
	}
	show := func(m *mupdate.Mailbox) string {
		if m == nil {
			return "-"
		}
		return m.Location
	}
	if len(got) != len(want) {
		t.Fatalf("got %d changes, want %d: %+v", len(got), len(want), got)
	}
	last := start
	for i, c := range got {
		if s := c.Name + " " + show(c.Prev) + " -> " + show(c.Cur); s != want[i] {
			t.Errorf("change %d: %s, want %s", i, s, want[i])
		}
		if c.Revision <= last {
			t.Errorf("change %d: revision %d not after %d", i, c.Revision, last)
		}
		last = c.Revision
	}
	if got[3].Cur.State != mupdate.Active || got[3].Prev.State != mupdate.Reserved {
		t.Errorf("states of the last change: %+v -> %+v", got[3].Prev, got[3].Cur)
	}
	// A second watch from the same revision sees the same history.
	var again []string
	wctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	go b.Watch(wctx2, start, func(c mupdate.Change) error {
		if c.Name != "" {
			mu.Lock()
			again = append(again, c.Name)
			if len(again) == 4 {
				cancel2()
			}
			mu.Unlock()
		}
		return nil
	})
	select {
	case <-wctx2.Done():
	case <-time.After(10 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(again) != "[user.a user.b user.a user.b]" {
		t.Errorf("replayed watch: %q", again)
	}
}

func testRace(t *testing.T, b mupdate.Backend) {
	ctx := ctxT(t)
	const n = 16
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.Write(ctx, req(mupdate.OpReserve, "user.contested", fmt.Sprintf("h%d!p", i), ""))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, mupdate.ErrExists):
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d RESERVEs of one name at different locations succeeded, want 1", wins.Load())
	}
}
