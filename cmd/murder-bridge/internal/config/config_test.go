package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func flags() (*pflag.FlagSet, map[string]*string) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	v := map[string]*string{}
	for _, n := range []string{"follow", "follow-user", "admins", "tls-cert", "tls-key", "listen", "http"} {
		v[n] = fs.String(n, "def-"+n, "")
	}
	fs.Bool("follow-starttls", false, "")
	v["follow-mech"] = fs.String("follow-mech", "", "")
	return fs, v
}

func write(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The precedence flags > env > config > imapd.conf, one key decided at
// each level.
func TestPrecedence(t *testing.T) {
	imapd, err := ImapdConf(write(t, "imapd.conf", `# a backend's imapd.conf
configdirectory: /var/lib/cyrus
admins: cyrus  murder
mupdate_server: master.example.com
mupdate_authname: murder
mupdate_username: ignored
mupdate_password: s3cret
tls_server_cert: /etc/ssl/imapd.pem
tls_server_key: /etc/ssl/imapd.key
proxyservers: murder
force_sasl_client_mech: PLAIN
`))
	if err != nil {
		t.Fatal(err)
	}
	file, err := ParseFile(write(t, "bridge.conf", "# ours\nlisten: 127.0.0.1:3905\nfollow_user: from-file\ntls-cert: /etc/file.pem\nhttp: 127.0.0.1:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := FromEnv([]string{"PATH=/bin", "MURDER_BRIDGE_TLS_CERT=/etc/env.pem", "MURDER_BRIDGE_HTTP=127.0.0.1:2"})
	fs, v := flags()
	if err := fs.Parse([]string{"--http", "127.0.0.1:3"}); err != nil {
		t.Fatal(err)
	}
	r, err := Apply(fs, []string{"follow-password"}, env, file, imapd)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"http":        {"127.0.0.1:3", "flag"},
		"tls-cert":    {"/etc/env.pem", "environment"},
		"listen":      {"127.0.0.1:3905", file.Name},
		"follow-user": {"from-file", file.Name},
		"follow":      {"master.example.com:3905", imapd.Name},
		"admins":      {"cyrus,murder", imapd.Name},
		"tls-key":     {"/etc/ssl/imapd.key", imapd.Name},
		"follow-mech": {"PLAIN", imapd.Name},
	}
	for k, w := range want {
		if *v[k] != w[0] || r.Source[k] != w[1] {
			t.Errorf("%s = %q from %q, want %q from %q", k, *v[k], r.Source[k], w[0], w[1])
		}
	}
	if pw, src, ok := r.Lookup("follow-password"); !ok || pw != "s3cret" || src != imapd.Name {
		t.Errorf("follow-password = %q %q %v", pw, src, ok)
	}
}

func TestImapdConfServerForms(t *testing.T) {
	for in, want := range map[string][2]string{
		"127.0.0.1:13905":    {"127.0.0.1:13905", ""},
		"master":             {"master:3905", ""},
		"master:4000/tls":    {"master:4000", "true"},
		"master/noauth":      {"master:3905", ""},
		"[2001:db8::1]:3905": {"[2001:db8::1]:3905", ""},
		"[2001:db8::1]":      {"[2001:db8::1]:3905", ""},
	} {
		l, err := imapdConf(strings.NewReader("mupdate_server: "+in+"\nmupdate_username: u\n"), "x")
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{l.Values["follow"], l.Values["follow-starttls"]}; got != want {
			t.Errorf("mupdate_server %q → %q, want %q", in, got, want)
		}
		if l.Values["follow-user"] != "u" {
			t.Errorf("mupdate_username not used without mupdate_authname")
		}
	}
}

func TestErrors(t *testing.T) {
	var se *SyntaxError
	if _, err := ParseFile(write(t, "c", "listen: x\nno colon here\n")); !errors.As(err, &se) || se.Line != 2 {
		t.Errorf("bad line: %v", err)
	}
	if _, err := ParseFile(write(t, "c", "two words: x\n")); !errors.As(err, &se) || se.Line != 1 {
		t.Errorf("bad key: %v", err)
	}
	if _, err := ParseFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file accepted")
	}
	fs, _ := flags()
	file, _ := ParseFile(write(t, "c", "\nlisten: x\nlistne: y\n"))
	if _, err := Apply(fs, nil, file); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), ":3:") {
		t.Errorf("typo in the config file: %v", err)
	}
	fs, _ = flags()
	if _, err := Apply(fs, nil, FromEnv([]string{"MURDER_BRIDGE_LISTNE=x"})); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "MURDER_BRIDGE_LISTNE") {
		t.Errorf("typo in the environment: %v", err)
	}
	fs, _ = flags()
	if _, err := Apply(fs, nil, FromEnv([]string{"MURDER_BRIDGE_FOLLOW_STARTTLS=maybe"})); err == nil || !strings.Contains(err.Error(), "MURDER_BRIDGE_FOLLOW_STARTTLS") {
		t.Errorf("bad bool in the environment: %v", err)
	}
}

// libsasl's settings Cyrus passes from imapd.conf with a sasl_ prefix.
func TestImapdConfSASL(t *testing.T) {
	l, err := ImapdConf(write(t, "imapd.conf", "sasl_pwcheck_method: saslauthd auxprop\nsasl_saslauthd_path: /run/sd/mux\nsasl_auxprop_plugin: sasldb\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Values["sasl-pwcheck-method"] != "saslauthd auxprop" || l.Values["saslauthd-path"] != "/run/sd/mux" || l.Lines["saslauthd-path"] != 2 {
		t.Errorf("layer %v %v", l.Values, l.Lines)
	}
	if l.Values["sasl-auxprop-plugin"] != "sasldb" {
		t.Errorf("sasl_auxprop_plugin not taken: %v", l.Values)
	}
	l, err = ImapdConf(write(t, "imapd.conf", "sasl_sasldb_path: /x/sasldb2\nservername: m.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Values["sasldb-path"] != "/x/sasldb2" || l.Values["sasldb-realm"] != "m.test" || l.Lines["sasldb-realm"] != 2 {
		t.Errorf("layer %v %v", l.Values, l.Lines)
	}
}
