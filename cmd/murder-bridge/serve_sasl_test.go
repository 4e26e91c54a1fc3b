package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mupdate/saslauthd"
)

// imapd.conf's sasl_pwcheck_method and sasl_saslauthd_path reach serve;
// what the bridge cannot honour is a usage error, never ignored.
func TestServeSASLFromImapdConf(t *testing.T) {
	d := t.TempDir()
	imapd := filepath.Join(d, "imapd.conf")
	os.WriteFile(imapd, []byte("sasl_pwcheck_method: saslauthd\nsasl_saslauthd_path: /run/x/mux\nadmins: murder\n"), 0o600)
	o := &serveOptions{}
	cmd := newServeCmdWith(o)
	if err := cmd.ParseFlags([]string{"--imapd-conf", imapd}); err != nil {
		t.Fatal(err)
	}
	if err := o.resolve(cmd, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Saslauthd == nil || cfg.Saslauthd.Path != "/run/x/mux" || cfg.Saslauthd.Service != "mupdate" || cfg.Credentials != "" {
		t.Errorf("saslauthd client %+v, credentials %q", cfg.Saslauthd, cfg.Credentials)
	}
	for _, c := range []struct {
		o    serveOptions
		want string
	}{
		{serveOptions{pwcheckMethod: "auxprop", auxpropPlugin: "ldapdb"}, "reads only sasldb"},
		{serveOptions{pwcheckMethod: "saslauthd pwcheck"}, `"pwcheck"`},
		{serveOptions{saslauthdPath: "/x", credentials: "/c"}, "--saslauthd-path needs"},
	} {
		_, err := c.o.config()
		if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config(%+v) = %v, want a usage error with %q", c.o, err, c.want)
		}
	}
	// default socket; auxprop beside it keeps the credentials file
	o2 := serveOptions{pwcheckMethod: "auxprop saslauthd", credentials: filepath.Join(d, "c")}
	if sd, err := o2.saslauthd(); err != nil || sd == nil || sd.Path != "" {
		t.Errorf("auxprop saslauthd: %+v %v (want the default path %s)", sd, err, saslauthd.DefaultPath)
	}
	// auxprop with sasldb and no credentials file: sasldb is read, its
	// realm is imapd.conf's servername
	os.WriteFile(imapd, []byte("sasl_pwcheck_method: auxprop\nsasl_auxprop_plugin: sasldb\nsasl_sasldb_path: /x/sasldb2\nservername: m.test\nadmins: murder\n"), 0o600)
	o3 := &serveOptions{}
	cmd3 := newServeCmdWith(o3)
	if err := cmd3.ParseFlags([]string{"--imapd-conf", imapd}); err != nil {
		t.Fatal(err)
	}
	if err := o3.resolve(cmd3, nil); err != nil {
		t.Fatal(err)
	}
	cfg3, err := o3.config()
	if err != nil || cfg3.Sasldb != "/x/sasldb2" || cfg3.SasldbRealm != "m.test" || cfg3.Saslauthd != nil {
		t.Errorf("auxprop sasldb: sasldb %q realm %q saslauthd %v, %v", cfg3.Sasldb, cfg3.SasldbRealm, cfg3.Saslauthd, err)
	}
	// Cyrus's default (no plugin named) is sasldb at /etc/sasldb2; with
	// --credentials the file stands for the auxprop
	if p, err := (serveOptions{pwcheckMethod: "auxprop"}).sasldb(); p != "/etc/sasldb2" || err != nil {
		t.Errorf("auxprop default: %q %v", p, err)
	}
	if p, err := (serveOptions{pwcheckMethod: "auxprop", credentials: "/c", sasldbPath: "/x"}).sasldb(); p != "" || err != nil {
		t.Errorf("auxprop with --credentials: %q %v", p, err)
	}
}
