package murdertest

import (
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
)

// LabSeed is what a test murder's backend holds before it joins the murder,
// as admin IMAP commands.
var LabSeed = []Step{
	{Op: "CREATE", Args: []string{"user.alice"}},
	{Op: "CREATE", Args: []string{"user.alice.Sent"}},
	{Op: "CREATE", Args: []string{"user.alice.Trash"}},
	{Op: "CREATE", Args: []string{"user.bob"}},
	{Op: "CREATE", Args: []string{"shared"}},
	{Op: "CREATE", Args: []string{"shared.lab"}},
	{Op: "SETACL", Args: []string{"shared.lab", "anyone", "lrs"}},
	{Op: "SETACL", Args: []string{"shared.lab", "bob", "lrswipkxtecda"}},
	{Op: "SETACL", Args: []string{"user.alice", "bob", "lr"}},
}

// Step is one IMAP mailbox operation: CREATE name, RENAME from to,
// DELETE name, SETACL name identifier rights.
type Step struct {
	User string // "" means admin
	Op   string
	Args []string
}

// Do runs one step on the session.
func (s *IMAP) Do(st Step) error {
	switch st.Op {
	case "CREATE":
		return s.Create(st.Args[0])
	case "RENAME":
		return s.Rename(st.Args[0], st.Args[1])
	case "DELETE":
		return s.Delete(st.Args[0])
	case "SETACL":
		return s.SetACL(st.Args[0], st.Args[1], st.Args[2])
	}
	panic("murdertest: unknown step " + st.Op) // a bug in the test, not input
}

// RunSteps runs steps on the instance over IMAP, each as its user (one
// session per user, kept open across steps), failing the test on a NO.
func (in *Instance) RunSteps(t testing.TB, steps []Step) {
	t.Helper()
	sessions := map[string]*IMAP{}
	for _, st := range steps {
		u := st.User
		if u == "" {
			u = "admin"
		}
		s := sessions[u]
		if s == nil {
			s = in.IMAPAs(t, u)
			sessions[u] = s
		}
		if err := s.Do(st); err != nil {
			t.Fatalf("%s as %s: %v\nsyslog:\n%s", in.Name, u, err, in.Log())
		}
	}
	for _, s := range sessions {
		s.Close()
	}
}

// Murder is a master (nil when an outside MUPDATE server is used), one
// backend and one frontend.
type Murder struct {
	Master   *Instance
	Backend  *Instance
	Frontend *Instance
	// MupdateAddr is the MUPDATE server backend and frontend use.
	MupdateAddr string
}

// MurderOptions configure StartMurder.
type MurderOptions struct {
	// MupdateAddr, when set, is an outside MUPDATE server (ours); no Cyrus
	// master is started.
	MupdateAddr string
	// Seed runs on the backend while it is standalone, before it joins
	// and pushes with `ctl_mboxlist -m` (nil: no seeding, no push).
	Seed                      []Step
	Master, Backend, Frontend Options
	// NoFrontend skips the frontend.
	NoFrontend bool
}

// StartMurder starts the lab's murder: a master (unless MupdateAddr), a
// backend seeded standalone and then joined with `ctl_mboxlist -m`, and a
// frontend whose serverlist is the backend.
func StartMurder(t testing.TB, o MurderOptions) *Murder {
	t.Helper()
	m := &Murder{MupdateAddr: o.MupdateAddr}
	if m.MupdateAddr == "" {
		m.Master = StartMaster(t, o.Master)
		m.MupdateAddr = m.Master.MupdateAddr
	}
	bo := o.Backend
	if len(o.Seed) > 0 {
		bo.Standalone = true
		m.Backend = StartBackend(t, "", bo)
		m.Backend.RunSteps(t, o.Seed)
		m.Backend.Join(t, m.MupdateAddr)
		m.Backend.CtlMboxlist(t, "-m")
	} else {
		m.Backend = StartBackend(t, m.MupdateAddr, bo)
	}
	if !o.NoFrontend {
		fo := o.Frontend
		if fo.Serverlist == nil {
			fo.Serverlist = []string{m.Backend.Servername}
		}
		m.Frontend = StartFrontend(t, m.MupdateAddr, fo)
	}
	return m
}

// Eventually calls f until it returns nil or timeout passes, and returns the
// last error (internal/eventually's Wait, kept for the interop tests).
func Eventually(timeout time.Duration, f func() error) error {
	return eventually.Wait(timeout, f)
}
