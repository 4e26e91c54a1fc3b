package murdertest

import (
	"net"
	"testing"
)

// A port taken between FreePort and cyrmaster's bind: the instance moves
// to new ports and starts.
func TestPortTakenAtStart(t *testing.T) {
	for _, role := range []Role{RoleMaster, RoleBackend} {
		in := newInstance(t, role, "", Options{Standalone: true})
		addr := in.MupdateAddr
		if role == RoleBackend {
			addr = in.IMAPAddr
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		in.start(t)
		l.Close()
		got := in.MupdateAddr
		if role == RoleBackend {
			got = in.IMAPAddr
			if in.Servername != got {
				t.Errorf("backend servername %s, address %s", in.Servername, got)
			}
			s := in.IMAPAs(t, "admin") // the sasldb knows the new realm
			s.Close()
		}
		if got == addr {
			t.Errorf("%s still on the taken port %s", role, addr)
		}
		in.Stop()
	}
}
