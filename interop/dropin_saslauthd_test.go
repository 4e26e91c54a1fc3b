package interop

import (
	"bufio"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/murdertest"
)

// mupdateBanner returns the `* AUTH ...` line of a MUPDATE server's banner.
func mupdateBanner(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	auth := ""
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("banner of %s: %v", addr, err)
		}
		if strings.HasPrefix(l, "* AUTH") {
			auth = strings.TrimSpace(l)
		}
		if strings.HasPrefix(l, "* OK") {
			return auth
		}
	}
}

// TestDropInSaslauthd: the master's imapd.conf says
// `sasl_pwcheck_method: saslauthd` with a private sasl_saslauthd_path, and
// a real saslauthd (-a sasldb) knows the murder's users. The real Cyrus
// `mupdate -m` and murder-bridge, each as the master under cyrmaster with
// that imapd.conf and no credentials file, serve the same real backend
// and frontend operations; saslauthd sees the same requests (service
// mupdate, no realm) from both; a wrong password, an unknown user and a
// user who is not in admins are refused by both with the same answer.
// Neither imapd.conf sets sasl_mech_list: Cyrus then offers SCRAM it cannot
// serve through saslauthd, murder-bridge PLAIN alone (checked below).
func TestDropInSaslauthd(t *testing.T) {
	bin := murderBridgeBinary(t)
	sd := murdertest.StartSaslauthd(t, "saslauthd.murdertest", murdertest.DefaultUsers)
	ask := "auth success: [user=murder] [service=mupdate] [realm=]"

	want, real := murderUnderCyrmasterWith(t, murdertest.Options{Name: "sd-real", Saslauthd: sd.Socket, MasterMechs: "none"})
	realChecks := strings.Count(sd.Log(), ask)
	if realChecks == 0 {
		t.Fatalf("the real mupdate -m did not ask saslauthd %q:\n%s", ask, sd.Log())
	}

	got, master := murderUnderCyrmasterWith(t, murdertest.Options{Name: "sd-bridge", Saslauthd: sd.Socket,
		MasterMechs: "none", MasterCmd: func(in *murdertest.Instance) string {
			binCopy := filepath.Join(in.Dir, "murder-bridge")
			copyFile(t, bin, binCopy, 0o755)
			// no --credentials: imapd.conf's saslauthd is the only check
			return strings.Join([]string{binCopy, "serve", "--imapd-conf", in.Conf,
				"--registry", "leveldb://" + filepath.Join(in.Dir, "registry"), "--log-syslog", "--servername", in.Servername}, " ")
		}})
	t.Logf("LIST through the frontend under both masters: %v", got)
	for _, u := range []string{"alice", "bob"} {
		if !slices.Equal(got[u], want[u]) || len(want[u]) < 2 {
			t.Errorf("%s's LIST through the frontend: under murder-bridge %v, under mupdate -m %v", u, got[u], want[u])
		}
	}
	if !sd.WaitLog(ask) || strings.Count(sd.Log(), ask) <= realChecks {
		t.Errorf("murder-bridge did not ask saslauthd as mupdate -m does (%q):\n%s", ask, sd.Log())
	}
	log := master.Log()
	if !strings.Contains(log, "PLAIN passwords checked by saslauthd") || !strings.Contains(log, sd.Socket) {
		t.Errorf("murder-bridge did not log using saslauthd at %s:\n%s", sd.Socket, log)
	}
	// saslauthd cannot serve SCRAM: the bridge offers PLAIN alone
	if b := mupdateBanner(t, master.MupdateAddr); b != `* AUTH "PLAIN"` {
		t.Errorf("murder-bridge's AUTH line with saslauthd: %q, want PLAIN alone", b)
	}
	if b := mupdateBanner(t, real.MupdateAddr); !strings.Contains(b, `"SCRAM-SHA-512"`) || !strings.Contains(b, `"PLAIN"`) {
		t.Errorf("the real master's AUTH line with saslauthd and no sasl_mech_list: %q (want Cyrus's default list, SCRAM included)", b)
	}

	for _, tc := range [][2]string{{"murder", "wrong"}, {"nosuchuser", "murderpw"}, {"alice", murdertest.DefaultUsers["alice"]}} {
		_, errReal := rawSession(real.MupdateAddr, tc[0], tc[1])
		_, errBridge := rawSession(master.MupdateAddr, tc[0], tc[1])
		if errReal == nil || errBridge == nil || errReal.Error() != errBridge.Error() {
			t.Errorf("login %s with %q: mupdate -m %v, murder-bridge %v", tc[0], tc[1], errReal, errBridge)
		}
	}
	if _, err := rawSession(master.MupdateAddr, "murder", murdertest.DefaultUsers["murder"]); err != nil {
		t.Errorf("murder's login to murder-bridge: %v", err)
	}

	// A deliberate difference: with saslauthd only, Cyrus still offers
	// SCRAM (libsasl lists every installed mechanism; sasl_mech_list
	// unset), and a backend left to pick the strongest one fails
	// ("unable to canonify user and get auxprops"); murder-bridge offers
	// PLAIN alone, so that backend works.
	for _, c := range []struct {
		master *murdertest.Instance
		works  bool
	}{{real, false}, {master, true}} {
		be := murdertest.StartBackend(t, c.master.MupdateAddr, murdertest.Options{Name: c.master.Name + "-be2", ClientMech: "none"})
		err := be.IMAPAs(t, "admin").Create("user.carol")
		if (err == nil) != c.works {
			t.Errorf("a backend without force_sasl_client_mech creating through %s: %v (want success %v)\nmaster syslog:\n%s", c.master.Name, err, c.works, c.master.Log())
		}
	}
}
