package interop

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/murdertest"
)

// TestDropInSasldb: the master's imapd.conf as murdertest writes it —
// `sasl_pwcheck_method: auxprop`, `sasl_auxprop_plugin: sasldb`,
// `sasl_sasldb_path` of a sasldb the real saslpasswd2 made in the realm of
// the master's servername — and no sasl_mech_list. The real Cyrus
// `mupdate -m` and murder-bridge (no --credentials, no --servername: the
// passwords and the realm come from that imapd.conf alone), each as the
// master under cyrmaster, serve the same real backend and frontend
// operations; a wrong password, an unknown user or realm and a user who is
// not in admins are refused by both with the same answer; and a backend left to
// pick the strongest mechanism (SCRAM-SHA-512, served from sasldb's clear
// password) works through both.
func TestDropInSasldb(t *testing.T) {
	bin := murderBridgeBinary(t)
	want, real := murderUnderCyrmasterWith(t, murdertest.Options{Name: "db-real", MasterMechs: "none"})
	got, master := murderUnderCyrmasterWith(t, murdertest.Options{Name: "db-bridge", MasterMechs: "none",
		MasterCmd: func(in *murdertest.Instance) string {
			binCopy := filepath.Join(in.Dir, "murder-bridge")
			copyFile(t, bin, binCopy, 0o755)
			// no --credentials: imapd.conf's sasldb is the only check
			return strings.Join([]string{binCopy, "serve", "--imapd-conf", in.Conf,
				"--registry", "leveldb://" + filepath.Join(in.Dir, "registry"), "--log-syslog"}, " ")
		}})
	t.Logf("LIST through the frontend under both masters: %v", got)
	for _, u := range []string{"alice", "bob"} {
		if !slices.Equal(got[u], want[u]) || len(want[u]) < 2 {
			t.Errorf("%s's LIST through the frontend: under murder-bridge %v, under mupdate -m %v", u, got[u], want[u])
		}
	}
	log := master.Log()
	if !strings.Contains(log, "passwords checked in sasldb") || !strings.Contains(log, filepath.Join(master.Dir, "sasldb2")) ||
		!strings.Contains(log, master.Servername) {
		t.Errorf("murder-bridge did not log reading %s in realm %s:\n%s", filepath.Join(master.Dir, "sasldb2"), master.Servername, log)
	}
	if b := mupdateBanner(t, master.MupdateAddr); b != `* AUTH "SCRAM-SHA-512" "SCRAM-SHA-256" "SCRAM-SHA-1" "PLAIN"` {
		t.Errorf("murder-bridge's AUTH line with sasldb: %q", b)
	}

	for _, tc := range [][2]string{
		{"murder", "wrong"},
		{"murder", murdertest.DefaultUsers["murder"] + "x"},
		{"nosuchuser", "murderpw"},
		{"murder@other.realm", murdertest.DefaultUsers["murder"]},
		// the right password in the right realm, but the identity is then
		// murder@realm, which is not in admins (no virtdomains)
		{"murder@" + real.Servername, murdertest.DefaultUsers["murder"]},   // mupdate -m
		{"murder@" + master.Servername, murdertest.DefaultUsers["murder"]}, // murder-bridge
		{"alice", murdertest.DefaultUsers["alice"]},                        // not in admins
	} {
		_, errReal := rawSession(real.MupdateAddr, tc[0], tc[1])
		_, errBridge := rawSession(master.MupdateAddr, tc[0], tc[1])
		if errReal == nil || errBridge == nil || errReal.Error() != errBridge.Error() {
			t.Errorf("login %s with %q: mupdate -m %v, murder-bridge %v", tc[0], tc[1], errReal, errBridge)
		}
	}
	if _, err := rawSession(master.MupdateAddr, "murder", murdertest.DefaultUsers["murder"]); err != nil {
		t.Errorf("murder's login to murder-bridge: %v", err)
	}

	// a backend without force_sasl_client_mech picks SCRAM-SHA-512: Cyrus
	// serves it from sasldb, and so does murder-bridge
	for _, m := range []*murdertest.Instance{real, master} {
		be := murdertest.StartBackend(t, m.MupdateAddr, murdertest.Options{Name: m.Name + "-be2", ClientMech: "none"})
		if err := be.IMAPAs(t, "admin").Create("user.carol"); err != nil {
			t.Errorf("a backend without force_sasl_client_mech creating through %s: %v\nmaster syslog:\n%s", m.Name, err, m.Log())
		}
	}
}
