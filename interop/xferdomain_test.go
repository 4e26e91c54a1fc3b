package interop

import (
	"testing"

	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/murdertest"
)

// XFER of a virtual-domain user between two real backends of one release
// (both on a real Cyrus master, `virtdomains: userid`). Cyrus 3.6.1 moves
// the user and says so with "* OK USER yan@example.com"; Cyrus 3.2.6
// answers a bare tagged OK and moves nothing (its cmd_xfer finds no mailbox
// for the name). The twin murders rely on this: their model moves a user
// only when the XFER's answer has "* OK USER" (xferMoved, docs/twins.md),
// which `make twins` seed 22 on 3.2 needed at step 21. Runs on 3.2.6 (the
// chroot) and 3.6.1 (the host) in `make test`.
func TestXferVirtualDomainUser(t *testing.T) {
	for _, c := range []struct {
		version string
		moves   bool
	}{{"3.2", false}, {"3.6", true}} {
		t.Run(c.version, func(t *testing.T) {
			rel := cyrustest.ReleaseOf(t, c.version)
			master := murdertest.StartMaster(t, murdertest.Options{Release: rel})
			var be [2]*murdertest.Instance
			for i, name := range []string{"xd-be0", "xd-be1"} {
				o := xferBackend(name, rel)
				o.Users = map[string]string{"yan@example.com": "yanpw"}
				o.Extra = append(o.Extra, "virtdomains: userid")
				be[i] = murdertest.StartBackend(t, master.MupdateAddr, o)
			}
			pw := murdertest.DefaultUsers["admin"]
			res, err := imapEach(be[0].IMAPAddr, "admin", pw, []string{`CREATE "user.yan@example.com"`, `CREATE "user.yan.Lists@example.com"`})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if len(r.status) < 2 || r.status[:2] != "OK" {
					t.Fatalf("CREATE on %s: %+v", be[0].Name, res)
				}
			}
			res, err = imapEach(be[0].IMAPAddr, "admin", pw, []string{`XFER "user.yan@example.com" "` + be[1].Servername + `"`})
			if err != nil {
				t.Fatal(err)
			}
			var answers []string
			for _, r := range res {
				answers = append(append(answers, r.untagged...), r.status)
			}
			t.Logf("Cyrus %s XFER of a virtual-domain user: %q", c.version, answers)
			if len(answers) == 0 || len(answers[len(answers)-1]) < 2 || answers[len(answers)-1][:2] != "OK" {
				t.Fatalf("XFER: want a tagged OK, got %q", answers)
			}
			if got := xferMoved(answers); got != c.moves {
				t.Errorf("XFER answers %q: xferMoved = %v, want %v", answers, got, c.moves)
			}
			src, dst := xferDump(t, be[0]), xferDump(t, be[1])
			for _, n := range []string{"example.com!user.yan", "example.com!user.yan.Lists"} {
				_, onDst := dst[n]
				if onDst != c.moves {
					t.Errorf("Cyrus %s: after XFER %s on %s: %v, want %v (source %s holds it: %v)", c.version, n, be[1].Name, onDst, c.moves, be[0].Name, src[n] != nil)
				}
				if !c.moves && src[n] == nil {
					t.Errorf("Cyrus %s: %s gone from %s though nothing moved", c.version, n, be[0].Name)
				}
			}
		})
	}
}
