package bridge_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// A streaming NOOP answers at once after a registry write that is not a
// mailbox change (a slot), and still flushes a mailbox change made through
// another connection before its OK (read-your-writes, what a frontend's
// kick relies on).
func TestStreamingNoopAfterSlotWrite(t *testing.T) {
	st, err := leveldb.Open(context.Background(), filepath.Join(t.TempDir(), "reg"), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	open := runBridge(t, st)
	login := func() (net.Conn, func(string) string) {
		s := open()
		return s.c, func(p string) string {
			t.Helper()
			got := s.until(p)
			return got[len(got)-1]
		}
	}
	w, wuntil := login()
	fmt.Fprintf(w, "R0 RESERVE \"user.a\" \"h!p\"\r\n")
	wuntil("R0 OK")
	s, suntil := login()
	fmt.Fprintf(s, "U01 UPDATE\r\n")
	suntil(`U01 OK "streaming starts"`)

	if _, err := st.CreateSlot(context.Background(), registry.Slot{Name: "s1", State: registry.SlotLegacy,
		Locations: []registry.Location{{Server: "h"}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fmt.Fprintf(s, "N1 NOOP\r\n")
	suntil(`N1 OK`)
	if d := time.Since(start); d > time.Second {
		t.Errorf("streaming NOOP after a slot write took %v", d)
	}

	fmt.Fprintf(w, "R1 RESERVE \"user.b\" \"h!p\"\r\n")
	wuntil("R1 OK")
	fmt.Fprintf(s, "N2 NOOP\r\n")
	if l := suntil("U01 RESERVE"); !strings.Contains(l, "{6+}") {
		t.Errorf("streamed %q", l)
	}
	if l := suntil("user.b"); l == "" {
		t.Fatal()
	}
	suntil("N2 OK")
}
