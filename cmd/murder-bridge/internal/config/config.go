package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// EnvPrefix starts every environment variable murder-bridge reads.
const EnvPrefix = "MURDER_BRIDGE_"

// Layer is one source of settings: keys are flag names.
type Layer struct {
	// Name says where the values came from, for messages
	// ("environment", "/etc/murder-bridge/bridge.conf",
	// "/etc/imapd.conf").
	Name   string
	Values map[string]string
	// Lines holds the line number of each key in a file (0 for the
	// environment).
	Lines map[string]int
}

// SyntaxError reports a malformed line of a configuration file.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("config: %s:%d: %s", e.File, e.Line, e.Msg) }

// ErrUnknownKey is wrapped by errors about a key no flag has.
var ErrUnknownKey = errors.New("unknown setting")

// normKey turns "follow_user" and "FOLLOW-USER" into "follow-user".
func normKey(k string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(k), "_", "-"))
}

// parseKV reads `key: value` lines (imapd.conf syntax): blank lines and
// lines starting with '#' are skipped; the value is the rest of the line
// after ':' with surrounding blanks removed. A later line for the same key
// wins, as in Cyrus.
func parseKV(r io.Reader, name string, norm func(string) string) (Layer, error) {
	l := Layer{Name: name, Values: map[string]string{}, Lines: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return l, &SyntaxError{File: name, Line: n, Msg: fmt.Sprintf("want `key: value`, got %q", line)}
		}
		k = strings.TrimSpace(k)
		if k == "" || strings.ContainsAny(k, " \t") {
			return l, &SyntaxError{File: name, Line: n, Msg: fmt.Sprintf("bad key %q", k)}
		}
		k = norm(k)
		l.Values[k] = strings.TrimSpace(v)
		l.Lines[k] = n
	}
	if err := sc.Err(); err != nil {
		return l, fmt.Errorf("config: %s: %w", name, err)
	}
	return l, nil
}

// ParseFile reads a --config file (`key: value`, keys are flag names).
func ParseFile(path string) (Layer, error) {
	f, err := os.Open(path)
	if err != nil {
		return Layer{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return parseKV(f, path, normKey)
}

// FromEnv collects the MURDER_BRIDGE_* variables of environ (os.Environ()
// form) as a layer.
func FromEnv(environ []string) Layer {
	l := Layer{Name: "environment", Values: map[string]string{}, Lines: map[string]int{}}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) || len(k) == len(EnvPrefix) {
			continue
		}
		l.Values[normKey(k[len(EnvPrefix):])] = v
	}
	return l
}

// EnvName is the environment variable of a flag.
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// DefaultMupdatePort is added to a mupdate_server without a port (Debian's
// /etc/services has no mupdate entry, so Cyrus sites write host:port).
const DefaultMupdatePort = "3905"

// ImapdConf reads the murder settings of a Cyrus imapd.conf as a layer of
// murder-bridge keys (see the package doc for the mapping).
func ImapdConf(path string) (Layer, error) {
	f, err := os.Open(path)
	if err != nil {
		return Layer{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return imapdConf(f, path)
}

func imapdConf(r io.Reader, name string) (Layer, error) {
	raw, err := parseKV(r, name, func(k string) string { return strings.ToLower(k) })
	if err != nil {
		return raw, err
	}
	l := Layer{Name: name, Values: map[string]string{}, Lines: map[string]int{}}
	set := func(key, opt, v string) {
		l.Values[key] = v
		l.Lines[key] = raw.Lines[opt]
	}
	if v := raw.Values["mupdate_server"]; v != "" {
		host := v
		if h, ok := strings.CutSuffix(host, "/tls"); ok {
			host = h
			set("follow-starttls", "mupdate_server", "true")
		}
		host, _, _ = strings.Cut(host, "/") // other suffixes (/noauth) do not apply
		if !hasPort(host) {
			host += ":" + DefaultMupdatePort
		}
		set("follow", "mupdate_server", host)
	}
	switch {
	case raw.Values["mupdate_authname"] != "":
		set("follow-user", "mupdate_authname", raw.Values["mupdate_authname"])
	case raw.Values["mupdate_username"] != "":
		set("follow-user", "mupdate_username", raw.Values["mupdate_username"])
	}
	if v, ok := raw.Values["mupdate_password"]; ok {
		set("follow-password", "mupdate_password", v)
	}
	if v := raw.Values["admins"]; v != "" {
		set("admins", "admins", strings.Join(strings.Fields(v), ","))
	}
	// imapd.conf options taken as they are: force_sasl_client_mech,
	// libsasl's options (Cyrus passes them with their sasl_ prefix),
	// servername (Cyrus's mupdate gives it to libsasl as the server's FQDN,
	// which sasldb logins without '@' are looked up in) and TLS.
	for _, m := range [...]struct{ opt, key string }{
		{"force_sasl_client_mech", "follow-mech"},
		{"sasl_pwcheck_method", "sasl-pwcheck-method"},
		{"sasl_saslauthd_path", "saslauthd-path"},
		{"sasl_auxprop_plugin", "sasl-auxprop-plugin"},
		{"sasl_sasldb_path", "sasldb-path"},
		{"servername", "sasldb-realm"},
		{"tls_server_cert", "tls-cert"},
		{"tls_server_key", "tls-key"},
	} {
		if v := raw.Values[m.opt]; v != "" {
			set(m.key, m.opt, v)
		}
	}
	return l, nil
}

// hasPort reports whether host ends in :PORT (IPv6 literals need brackets).
func hasPort(host string) bool {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return false
	}
	if strings.Count(host, ":") > 1 && !strings.HasPrefix(host, "[") {
		return false // bare IPv6 address
	}
	return i < len(host)-1 && !strings.Contains(host[i:], "]")
}

// Resolved is the outcome of Apply: where each setting came from.
type Resolved struct {
	layers []Layer
	// Source maps a flag name to "flag", the layer's name, or "default".
	Source map[string]string
}

// Lookup returns a value that has no flag (such as "follow-password" from
// imapd.conf) from the first layer that sets it.
func (r *Resolved) Lookup(key string) (value, source string, ok bool) {
	for _, l := range r.layers {
		if v, ok := l.Values[key]; ok {
			return v, l.Name, true
		}
	}
	return "", "", false
}

// Apply sets every flag of fs that was not given on the command line from
// the first layer that has it (pass the layers in precedence order: env,
// config file, imapd.conf). Keys in layers other than imapd.conf-derived
// ones must name a flag of fs or be listed in extra; otherwise Apply fails
// with ErrUnknownKey. A value a flag rejects is an error naming its source.
func Apply(fs *pflag.FlagSet, extra []string, layers ...Layer) (*Resolved, error) {
	r := &Resolved{layers: layers, Source: map[string]string{}}
	for _, l := range layers {
		for k := range l.Values {
			if fs.Lookup(k) == nil && !slices.Contains(extra, k) {
				where := l.Name
				if l.Name == "environment" {
					where = "environment variable " + EnvName(k)
				} else if n := l.Lines[k]; n > 0 {
					where = fmt.Sprintf("%s:%d", l.Name, n)
				}
				return nil, fmt.Errorf("config: %s: %q: %w (known: %s)", where, k, ErrUnknownKey, strings.Join(flagNames(fs), ", "))
			}
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		if f.Changed {
			r.Source[f.Name] = "flag"
			return
		}
		for _, l := range layers {
			v, ok := l.Values[f.Name]
			if !ok {
				continue
			}
			if serr := fs.Set(f.Name, v); serr != nil {
				where := l.Name
				if l.Name == "environment" {
					where = EnvName(f.Name)
				} else if n := l.Lines[f.Name]; n > 0 {
					where = fmt.Sprintf("%s:%d", l.Name, n)
				}
				err = fmt.Errorf("config: %s: bad value %q for %s: %v", where, v, f.Name, serr)
				return
			}
			r.Source[f.Name] = l.Name
			return
		}
		r.Source[f.Name] = "default"
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func flagNames(fs *pflag.FlagSet) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			out = append(out, f.Name)
		}
	})
	return out
}
