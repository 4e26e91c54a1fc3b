package main

import (
	"os"
	"path/filepath"
	"testing"
)

// --replicated-backends is off by default and may come from the flag, the
// environment or the config file.
func TestReplicatedBackendsSetting(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "bridge.conf")
	if err := os.WriteFile(conf, []byte("replicated-backends: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args, environ []string
		want          bool
	}{
		{nil, nil, false},
		{[]string{"--replicated-backends"}, nil, true},
		{nil, []string{"MURDER_BRIDGE_REPLICATED_BACKENDS=true"}, true},
		{nil, []string{"MURDER_BRIDGE_CONFIG=" + conf}, true},
		{[]string{"--replicated-backends=false"}, []string{"MURDER_BRIDGE_CONFIG=" + conf}, false},
	} {
		o := &serveOptions{}
		cmd := newServeCmdWith(o)
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		if err := o.resolve(cmd, c.environ); err != nil {
			t.Fatalf("%v %v: %v", c.args, c.environ, err)
		}
		if o.replicatedBackends != c.want {
			t.Errorf("%v %v: replicated-backends = %v, want %v", c.args, c.environ, o.replicatedBackends, c.want)
		}
	}
}
