package main

import (
	"strconv"
	"testing"
)

// TestListenSource: --listen cyrus/systemd name the source; otherwise the
// environment cyrmaster (CYRUS_SERVICE) or systemd (LISTEN_PID = this
// process, LISTEN_FDS) sets does; a LISTEN_PID of another process (an
// inherited environment) is not ours.
func TestListenSource(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	pid := 4242
	for _, c := range []struct {
		listen string
		env    func(string) string
		want   string
	}{
		{":3905", env(), ""},
		{"cyrus", env(), listenCyrus},
		{"systemd", env(), listenSystemd},
		{":3905", env("CYRUS_SERVICE", "mupdate", "CYRUS_ID", "0"), listenCyrus},
		{"127.0.0.1:3905", env("LISTEN_PID", strconv.Itoa(pid), "LISTEN_FDS", "1"), listenSystemd},
		{":3905", env("LISTEN_PID", "1", "LISTEN_FDS", "1"), ""},
	} {
		if got := listenSource(c.listen, c.env, pid); got != c.want {
			t.Errorf("listenSource(%q, env) = %q, want %q", c.listen, got, c.want)
		}
	}
}
