package mupdatetest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// The server greets on its loopback address until Stop; after Stop the
// address refuses connections and Done is closed.
func TestStartStop(t *testing.T) {
	auth, err := creds.Parse(strings.NewReader("admin:adminpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := Start(t, mupdateserver.Config{Backend: memory.New(nil), Auth: auth, FailedLoginPause: -1})
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, want a 127.0.0.1 port", s.Addr)
	}
	nc, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := bufio.NewReader(nc).ReadString('\n')
	nc.Close()
	if err != nil || !strings.HasPrefix(l, "* ") {
		t.Fatalf("first line %q, %v; want the MUPDATE banner", l, err)
	}
	s.Stop()
	s.Stop() // a second Stop does nothing
	select {
	case <-s.Done:
	default:
		t.Fatal("Done not closed after Stop")
	}
	if nc, err := net.Dial("tcp", s.Addr); err == nil {
		nc.Close()
		t.Fatal("the address still accepts connections after Stop")
	}
}
