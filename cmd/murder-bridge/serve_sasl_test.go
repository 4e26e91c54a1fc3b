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
		{serveOptions{pwcheckMethod: "auxprop"}, "does not read sasldb"},
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
}
