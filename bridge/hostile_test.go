package bridge_test

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/mupdatetest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/mupdatemetrics"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// exchange sends each input on one logged-in connection and collects what
// came back within a short wait after each (a reply that waits for more
// input shows up as missing).
func exchange(t *testing.T, addr, user, pw string, inputs []string) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	read := func(wait time.Duration) string {
		var sb strings.Builder
		for {
			nc.SetReadDeadline(time.Now().Add(wait))
			l, err := br.ReadString('\n')
			sb.WriteString(l)
			if err != nil {
				return sb.String()
			}
		}
	}
	read(2 * time.Second) // banner
	io.WriteString(nc, "A01 AUTHENTICATE \"PLAIN\" \""+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw))+"\"\r\n")
	if got := read(2 * time.Second); got != "A01 OK \"Authenticated\"\r\n" {
		t.Fatalf("login at %s: %q", addr, got)
	}
	var out []string
	for _, in := range inputs {
		io.WriteString(nc, in)
		out = append(out, read(500*time.Millisecond))
	}
	return out
}

// registryErrors sums murder_bridge_registry_errors_total.
func registryErrors(t *testing.T, m *httpapi.Metrics) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "murder_bridge_registry_errors_total" {
			for _, x := range mf.GetMetric() {
				n += x.GetCounter().GetValue()
			}
		}
	}
	return n
}

// TestClientInputAsCyrusAnswersIt: FIND of names the registry cannot hold
// (empty, bytes that are not UTF-8 or not ASCII, control bytes, an empty
// hierarchy component) and a reply followed by part of the next command
// get, byte for byte, what a real Cyrus 3.6.1 master answers, and none of
// it counts as a registry error (alerts fire on that metric).
func TestClientInputAsCyrusAnswersIt(t *testing.T) {
	inputs := []string{
		"F1 FIND \"\"\r\n",
		"F2 FIND \"user.\xff\xfe\"\r\n",
		"F3 FIND {7+}\r\nuser.\xc3\x28\r\n",
		"F4 FIND \"user.a\x01b\"\r\n",
		"F5 FIND \"user..x\"\r\n",
		"F6 FIND \"!user.x\"\r\n",
		"N1 NOOP\r\nabc",
		"\r\n",
		"F7 FIND \"user.nobody\"\r\n",
	}
	master := murdertest.StartMaster(t, murdertest.Options{})
	want := exchange(t, master.MupdateAddr, "admin", master.Users["admin"], inputs)

	cr, err := creds.Parse(strings.NewReader("admin:adminpw\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := httpapi.NewMetrics()
	srv := mupdatetest.Start(t, mupdateserver.Config{Backend: mupdatemetrics.New(m.Registry, m.RegistryError).Wrap(bridge.New(openStore(t))), Auth: cr,
		FailedLoginPause: -1})
	got := exchange(t, srv.Addr, "admin", "adminpw", inputs)
	for i := range inputs {
		if got[i] != want[i] {
			t.Errorf("after %q: bridge %q, Cyrus %q", inputs[i], got[i], want[i])
		}
	}
	if n := registryErrors(t, m); n != 0 {
		t.Errorf("client input counted as %v registry errors", n)
	}
}
