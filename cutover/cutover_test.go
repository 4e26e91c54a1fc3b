package cutover

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// oldMaster is an MUPDATE server on a memory backend standing in for the
// old Cyrus master (interop/cutover_test.go uses the real one); it can be
// stopped and started again on the same address with the same content.
type oldMaster struct {
	addr string
	be   *memory.Backend
	srv  *mupdateserver.Server
}

func (m *oldMaster) start(t testing.TB) {
	t.Helper()
	a, err := creds.Parse(strings.NewReader("murder:murderpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mupdateserver.New(mupdateserver.Config{Backend: m.be, Auth: a, ServerName: "old.master", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	addr := m.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m.addr, m.srv = ln.Addr().String(), srv
	go srv.Serve(context.Background(), ln)
}

func (m *oldMaster) stop() { m.srv.Close() }

func (m *oldMaster) get(t testing.TB, name string) (mupdate.Mailbox, bool) {
	t.Helper()
	mb, ok, err := m.be.Lookup(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return mb, ok
}

func setup(t testing.TB) (*oldMaster, *WriteThrough, mupdate.Backend, registry.Store) {
	t.Helper()
	ctx := context.Background()
	m := &oldMaster{be: memory.New(nil)}
	m.start(t)
	t.Cleanup(m.stop)
	st, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "r"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	wt, err := New(Config{Store: st, Addr: m.addr, User: "murder", Password: "murderpw", QueueDir: filepath.Join(t.TempDir(), "q"), Logger: slog.New(slog.DiscardHandler),
		SlotTTL: time.Nanosecond, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wt.Close() })
	for _, s := range []registry.Slot{
		{Name: "cut", State: registry.SlotCutover, Locations: []registry.Location{{Server: "be1"}}},
		{Name: "mir", State: registry.SlotMirrored, Locations: []registry.Location{{Server: "be2"}}},
		{Name: "ret", State: registry.SlotRetired, Locations: []registry.Location{{Server: "be3"}}},
	} {
		if _, err := st.CreateSlot(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return m, wt, wt.Wrap(bridge.New(st)), st
}

func write(t *testing.T, b mupdate.Backend, op mupdate.Op, name, loc, acl string) error {
	t.Helper()
	return b.Write(context.Background(), mupdate.Request{Op: op, Name: name, Location: loc, ACL: acl})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteThrough(t *testing.T) {
	m, wt, b, _ := setup(t)
	// a cut-over slot: written through
	must(t, write(t, b, mupdate.OpReserve, "user.a", "be1!default", ""))
	must(t, write(t, b, mupdate.OpActivate, "user.a", "be1!default", "a\tlrs\t"))
	if mb, ok := m.get(t, "user.a"); !ok || mb.State != mupdate.Active || mb.ACL != "a\tlrs\t" || mb.Location != "be1!default" {
		t.Fatalf("master has %+v %v", mb, ok)
	}
	// other slots: not written through
	must(t, write(t, b, mupdate.OpActivate, "user.m", "be2!default", "m\tlrs\t"))
	must(t, write(t, b, mupdate.OpActivate, "user.r", "be3!default", "r\tlrs\t"))
	for _, n := range []string{"user.m", "user.r"} {
		if _, ok := m.get(t, n); ok {
			t.Errorf("%s reached the master", n)
		}
	}
	// a name the master already has elsewhere: the create is refused and
	// the registry does not get it
	if err := m.be.Write(context.Background(), mupdate.Request{Op: mupdate.OpActivate, Name: "user.dup", Location: "be2!default", ACL: "x\tl\t"}); err != nil {
		t.Fatal(err)
	}
	if err := write(t, b, mupdate.OpReserve, "user.dup", "be1!default", ""); !errors.Is(err, mupdate.ErrExists) {
		t.Fatalf("RESERVE of a name the master has = %v, want ErrExists", err)
	}
	if _, ok, _ := b.Lookup(context.Background(), "user.dup"); ok {
		t.Error("the registry took a create the master refused")
	}
	if mb, _ := m.get(t, "user.dup"); mb.Location != "be2!default" {
		t.Errorf("the master's user.dup moved: %+v", mb)
	}
	// delete through
	must(t, write(t, b, mupdate.OpDelete, "user.a", "", ""))
	if _, ok := m.get(t, "user.a"); ok {
		t.Error("the delete did not reach the master")
	}
	if s := wt.Status(); s.Sent != 3 || s.Queued != 0 || s.Rejected != 0 {
		t.Errorf("status %+v", s)
	}
}

func TestQueueWhileMasterDown(t *testing.T) {
	m, wt, b, _ := setup(t)
	must(t, write(t, b, mupdate.OpReserve, "user.q", "be1!default", ""))
	must(t, write(t, b, mupdate.OpActivate, "user.q", "be1!default", "q\tl\t"))
	must(t, write(t, b, mupdate.OpActivate, "user.z", "be1!default", "z\tl\t"))
	m.stop()
	// with the master down, the first change is queued, then everything
	// else behind it, in order
	for _, r := range []string{"q\tlr\t", "q\tlrs\t", "q\tlrsw\t"} {
		must(t, write(t, b, mupdate.OpActivate, "user.q", "be1!default", r))
	}
	must(t, write(t, b, mupdate.OpDeactivate, "user.z", "be1!default", ""))
	if n := wt.Queued(); n != 4 {
		t.Fatalf("queued %d, want 4", n)
	}
	for _, req := range []mupdate.Request{
		{Op: mupdate.OpReserve, Name: "user.new", Location: "be1!default"},
		{Op: mupdate.OpDelete, Name: "user.q"},
		{Op: mupdate.OpActivate, Name: "user.pushed", Location: "be1!default", ACL: "p\tl\t"},
	} {
		if err := b.Write(context.Background(), req); !errors.Is(err, ErrTryLater) || !strings.Contains(err.Error(), "try later") {
			t.Errorf("%s while queued = %v, want try later", req.Op, err)
		}
	}
	if err := wt.Drain(context.Background()); err == nil {
		t.Fatal("Drain with the master down returned nil")
	}
	// the master returns: Run drains in order
	m.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wt.Run(ctx) }()
	eventually.WaitTrue(10*time.Second, func() bool { return wt.Queued() == 0 }) // checked below
	cancel()
	<-done
	if n := wt.Queued(); n != 0 {
		t.Fatalf("still queued: %d (%+v)", n, wt.Status())
	}
	if mb, _ := m.get(t, "user.q"); mb.ACL != "q\tlrsw\t" {
		t.Errorf("master ACL of user.q = %q, want the last change", mb.ACL)
	}
	if mb, _ := m.get(t, "user.z"); mb.State != mupdate.Reserved {
		t.Errorf("master user.z = %+v, want deactivated (reserved)", mb)
	}
	// creates work again
	must(t, write(t, b, mupdate.OpReserve, "user.new", "be1!default", ""))
	if _, ok := m.get(t, "user.new"); !ok {
		t.Error("create after the drain did not reach the master")
	}
}
