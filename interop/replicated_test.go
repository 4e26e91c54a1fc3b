package interop

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// replicatedMurder is a replicated murder on real Cyrus 3.6.1: a primary
// backend with rolling replication (`sync_log: 1`, sync_host/sync_port,
// `sync_client -r`) to a replica backend with sync_server, both in the
// murder under the primary's servername, each with its mupdate_server a
// recording Relay to the master; and a frontend whose serverlist is that
// servername.
type replicatedMurder struct {
	Primary, Replica     *murdertest.Instance
	Frontend             *murdertest.Instance
	PrimaryMU, ReplicaMU *murdertest.Relay
}

func startReplicatedMurder(t *testing.T, name, mupdateAddr string) *replicatedMurder {
	t.Helper()
	r := &replicatedMurder{}
	r.PrimaryMU = murdertest.StartRelay(t, mupdateAddr)
	r.ReplicaMU = murdertest.StartRelay(t, mupdateAddr)
	addr := fmt.Sprintf("127.0.0.1:%d", murdertest.FreePort(t)) // the primary's IMAP address = the servername
	r.Replica = murdertest.StartBackend(t, r.ReplicaMU.Addr, murdertest.Options{Name: name + "-replica",
		Servername: addr, SyncServer: true, Admins: []string{"murder"}})
	r.Primary = murdertest.StartBackend(t, r.PrimaryMU.Addr, murdertest.Options{Name: name + "-primary",
		IMAPAddr: addr, SyncTo: r.Replica.SyncAddr})
	r.Frontend = murdertest.StartFrontend(t, mupdateAddr, murdertest.Options{Name: name + "-fe", Serverlist: []string{addr}})
	return r
}

// mupdateWrite is one write command a client sent through a Relay and the
// server's tagged answer ("" when the connection ended without one).
type mupdateWrite struct {
	Op     string
	Args   []string
	Answer string
}

func (w mupdateWrite) String() string {
	return fmt.Sprintf("%s %q -> %s", w.Op, w.Args, w.Answer)
}

// relayWrites parses a Relay's transcripts (Cyrus backends send every
// argument as a {N+} literal) into the RESERVE/ACTIVATE/DEACTIVATE/DELETE
// commands sent and their answers.
func relayWrites(t *testing.T, r *murdertest.Relay) []mupdateWrite {
	t.Helper()
	var out []mupdateWrite
	for _, conn := range r.Transcripts() {
		var pending []mupdateWrite
		var tags []string
		var cmd strings.Builder
		for _, l := range conn {
			switch {
			case strings.HasPrefix(l, "C: "):
				cmd.WriteString(l[3:])
				if strings.HasSuffix(l, "+}") {
					cmd.WriteString("\r\n")
					continue
				}
				tag, w, ok := parseWrite(cmd.String())
				cmd.Reset()
				if ok {
					pending = append(pending, w)
					tags = append(tags, tag)
				}
			case strings.HasPrefix(l, "S: "):
				for i, tag := range tags {
					if pending[i].Answer == "" && strings.HasPrefix(l[3:], tag+" ") {
						pending[i].Answer = l[3+len(tag)+1:]
					}
				}
			}
		}
		out = append(out, pending...)
	}
	return out
}

// parseWrite parses `tag VERB arg...` whose arguments are literals or
// quoted strings.
func parseWrite(s string) (string, mupdateWrite, bool) {
	tag, rest, _ := strings.Cut(s, " ")
	verb, rest, _ := strings.Cut(rest, " ")
	switch verb {
	case "RESERVE", "ACTIVATE", "DEACTIVATE", "DELETE":
	default:
		return "", mupdateWrite{}, false
	}
	w := mupdateWrite{Op: verb}
	for rest != "" {
		rest = strings.TrimPrefix(rest, " ")
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}\r\n")
			n, err := strconv.Atoi(strings.TrimSuffix(rest[1:end], "+"))
			if err != nil || end+3+n > len(rest) {
				return tag, mupdateWrite{Op: verb, Args: []string{"unparsable: " + s}}, true
			}
			w.Args = append(w.Args, rest[end+3:end+3+n])
			rest = rest[end+3+n:]
		case strings.HasPrefix(rest, `"`):
			end := strings.Index(rest[1:], `"`)
			w.Args = append(w.Args, rest[1:1+end])
			rest = rest[2+end:]
		default:
			return tag, mupdateWrite{Op: verb, Args: []string{"unparsable: " + s}}, true
		}
	}
	return tag, w, true
}

// findWrite returns the first write of op on name, or false.
func findWrite(ws []mupdateWrite, op, name string) (mupdateWrite, bool) {
	for _, w := range ws {
		if w.Op == op && len(w.Args) > 0 && w.Args[0] == name {
			return w, true
		}
	}
	return mupdateWrite{}, false
}

// replicaNames is the names of live mailboxes in the replica's
// mailboxes.db (ctl_mboxlist -d; Cyrus 3.6 keeps a tombstone, mbtype
// "d", for a deleted or renamed mailbox: left out).
func replicaNames(t *testing.T, in *murdertest.Instance) []string {
	d := in.Dump(t)
	maps.DeleteFunc(d, func(_ string, e murdertest.DumpEntry) bool { return strings.Contains(e.MBType, "d") })
	return slices.Sorted(maps.Keys(d))
}

// replicaSteps are the changes alice makes on the primary. The first
// three replicate with either master; the RENAME is what the replica's
// repeat turns into a failure unless the master accepts it.
var replicaCreateSteps = []murdertest.Step{
	{Op: "CREATE", Args: []string{"user.alice"}},
	{User: "alice", Op: "CREATE", Args: []string{"INBOX.Sent"}},
	{User: "alice", Op: "SETACL", Args: []string{"INBOX.Sent", "bob", "lr"}},
}

// replicatedOutcome is what a replicated murder ends with after the
// RENAME, for comparing masters.
type replicatedOutcome struct {
	ReplicaNames []string
	Master       map[string]string // name -> location and ACL, as the master lists them
	AliceLIST    []string          // through the frontend
}

// TestReplicatedMurder: two backends replicating with sync_client -r /
// sync_server, both in the murder under one servername (the topology
// Cyrus's "Replicated backends with the same server name" code in its
// master exists for). The replica repeats every MUPDATE write of its
// primary. Creates and SETACL replicate under any master: the replica's
// RESERVE at its own location is accepted by Cyrus and by the bridge.
// Two repeats are refused without --replicated-backends, each shown in a
// murder of its own (a refused repeat makes sync_client bail out and
// stalls the replica from then on):
//
//   - rename: the replica's repeat of a RENAME starts with DELETE of the
//     old name, which the primary already deleted. The real 3.6.1 master
//     crashes on it (SIGSEGV, logged by cyrmaster), the bridge answers NO
//     "mailbox doesn't exist"; the replica rolls the rename back;
//   - catch-up: a mailbox created and renamed while the replica was down
//     reaches it as a new mailbox, and it RESERVEs "server!default" while
//     the primary's RENAME left the entry at "server!": NO "mailbox
//     already exists" from both masters.
//
// Under the real master and the bridge with default settings each
// scenario ends the same (compared). With --replicated-backends the
// bridge answers both repeats OK, and the catch-up, the rename and a
// delayed DELETE replicate.
func TestReplicatedMurder(t *testing.T) {
	for _, sc := range []string{"rename", "catch-up"} {
		outcomes := map[string]replicatedOutcome{}
		t.Run("real-master/"+sc, func(t *testing.T) {
			master := murdertest.StartMaster(t, murdertest.Options{Name: "repl-master"})
			r := startReplicatedMurder(t, "repl-real", master.MupdateAddr)
			replicatedCreates(t, r)
			w, want := replicatedScenarioFails(t, r, sc)
			if sc == "rename" {
				if w.Answer != "" {
					t.Errorf("the real master answered the replica's %v; Cyrus 3.6.1 crashes on a DELETE of an absent name", w)
				}
				if !master.WaitLog("signaled to death by signal 11", 10*time.Second) {
					t.Errorf("no crash of the real master logged by cyrmaster:\n%s", master.Log())
				}
			} else if w.Answer != `NO "mailbox already exists"` {
				t.Errorf("the real master answered the replica's %v, want NO \"mailbox already exists\"", w)
			}
			outcomes["real"] = replicatedEnd(t, r, master.MupdateAddr, want)
		})
		t.Run("bridge-default/"+sc, func(t *testing.T) {
			ours := startOurs(t)
			r := startReplicatedMurder(t, "repl-bridge", ours.Addr)
			replicatedCreates(t, r)
			w, want := replicatedScenarioFails(t, r, sc)
			wantAnswer := map[string]string{"rename": `NO "mailbox doesn't exist"`, "catch-up": `NO "mailbox already exists"`}[sc]
			if w.Answer != wantAnswer {
				t.Errorf("the bridge answered the replica's %v, want %s", w, wantAnswer)
			}
			outcomes["bridge"] = replicatedEnd(t, r, ours.Addr, want)
		})
		if real, ours := outcomes["real"], outcomes["bridge"]; real.Master != nil && ours.Master != nil {
			if d := cmp.Diff(real, ours); d != "" {
				t.Errorf("%s: a replicated murder ends differently under the real master (-) and the bridge without --replicated-backends (+):\n%s", sc, d)
			}
		}
	}
	t.Run("bridge-replicated-backends", func(t *testing.T) {
		st, err := leveldb.Open(context.Background(), t.TempDir()+"/registry", nil)
		if err != nil {
			t.Fatal(err)
		}
		ours := startOursOn(t, st, func(c *ourConfig) { c.ReplicatedBackends = true })
		r := startReplicatedMurder(t, "repl-on", ours.Addr)
		replicatedCreates(t, r)
		srv := r.Primary.Servername

		// catch-up: created and renamed while the replica was down
		catchUpWhileDown(t, r)
		waitReplica(t, r, func(names []string) bool { return slices.Contains(names, "user.alice.Templates") }, "the catch-up replicated")
		ws := relayWrites(t, r.ReplicaMU)
		if got, ok := findWrite(ws, "RESERVE", "user.alice.Templates"); !ok || !slices.Equal(got.Args, []string{"user.alice.Templates", srv + "!default"}) || got.Answer != `OK "done"` {
			t.Errorf("the replica's RESERVE user.alice.Templates: %v (found %v), want it at %s!default answered OK\n%s", got, ok, srv, writesText(ws))
		}

		// rename
		alice := r.Primary.IMAPAs(t, "alice")
		defer alice.Close()
		if err := alice.Rename("INBOX.Sent", "INBOX.Archive"); err != nil {
			t.Fatal(err)
		}
		waitReplica(t, r, func(names []string) bool {
			return slices.Contains(names, "user.alice.Archive") && !slices.Contains(names, "user.alice.Sent")
		}, "the rename replicated")
		ws = relayWrites(t, r.ReplicaMU)
		for _, want := range []mupdateWrite{
			{"DELETE", []string{"user.alice.Sent"}, `OK "done"`},
			// as its primary's RENAME did: the new name at "server!"
			{"RESERVE", []string{"user.alice.Archive", srv + "!"}, `OK "done"`},
			{"ACTIVATE", []string{"user.alice.Archive", srv + "!", "alice\tlrswipkxtecdan\tbob\tlr\t"}, `OK "done"`},
		} {
			if got, ok := findWrite(ws, want.Op, want.Args[0]); !ok || !slices.Equal(got.Args, want.Args) || got.Answer != want.Answer {
				t.Errorf("the replica's %s %s: got %v (found %v), want %v\nreplica's writes:\n%s", want.Op, want.Args[0], got, ok, want, writesText(ws))
			}
		}

		// a delayed delete (rename to DELETED.*)
		if err := alice.Create("INBOX.Old"); err != nil {
			t.Fatal(err)
		}
		waitReplica(t, r, func(names []string) bool { return slices.Contains(names, "user.alice.Old") }, "INBOX.Old created on the replica")
		if err := alice.Delete("INBOX.Old"); err != nil {
			t.Fatal(err)
		}
		waitReplica(t, r, func(names []string) bool {
			return !slices.Contains(names, "user.alice.Old") && slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "DELETED.user.alice.Old.") })
		}, "the delayed delete replicated")
		if w, ok := findWrite(relayWrites(t, r.ReplicaMU), "DELETE", "user.alice.Old"); !ok || w.Answer != `OK "done"` {
			t.Errorf("the replica's DELETE user.alice.Old: %v (found %v)", w, ok)
		}

		if l := r.Primary.Log(); strings.Contains(l, "failed to rename") || strings.Contains(l, "update failed") || strings.Contains(l, "bailing out") {
			t.Errorf("sync_client failed with --replicated-backends:\n%s", l)
		}
		end := replicatedEnd(t, r, ours.Addr, "INBOX.Archive")
		if !slices.Contains(end.AliceLIST, "INBOX.Templates") || slices.Contains(end.AliceLIST, "INBOX.Old") {
			t.Errorf("alice's LIST through the frontend: %v", end.AliceLIST)
		}
		if got := end.Master["user.alice.Archive"]; got != "SERVER!default alice=lrswipkxtecdan bob=lr" {
			t.Errorf("the bridge lists user.alice.Archive as %q", got)
		}
		if n := strings.Count(ours.Logs.String(), "replica repeat accepted"); n < 4 {
			t.Errorf("the bridge logged %d replica repeats, want at least 4:\n%s", n, ours.Logs.String())
		}
	})
}

// catchUpWhileDown stops the replica, creates and renames a mailbox on the
// primary, and starts the replica again.
func catchUpWhileDown(t *testing.T, r *replicatedMurder) {
	t.Helper()
	r.Replica.Stop()
	r.Primary.RunSteps(t, []murdertest.Step{
		{User: "alice", Op: "CREATE", Args: []string{"INBOX.Drafts"}},
		{User: "alice", Op: "RENAME", Args: []string{"INBOX.Drafts", "INBOX.Templates"}},
	})
	r.Replica.Restart(t)
}

// replicatedScenarioFails runs a scenario whose repeat the master refuses
// and returns the replica's refused write and the name alice's LIST must
// then show through the frontend (the primary's work).
func replicatedScenarioFails(t *testing.T, r *replicatedMurder, sc string) (mupdateWrite, string) {
	t.Helper()
	if sc == "rename" {
		return replicatedRenameFails(t, r), "INBOX.Archive"
	}
	catchUpWhileDown(t, r)
	if !r.Primary.WaitLog("update failed: user.alice.Templates", 40*time.Second) {
		t.Fatalf("sync_client did not report the failed catch-up:\n%s\nreplica:\n%s", r.Primary.Log(), r.Replica.Log())
	}
	if names := replicaNames(t, r.Replica); slices.Contains(names, "user.alice.Templates") {
		t.Errorf("replica's mailboxes after the refused catch-up: %v, want no user.alice.Templates", names)
	}
	ws := relayWrites(t, r.ReplicaMU)
	w, ok := findWrite(ws, "RESERVE", "user.alice.Templates")
	if !ok {
		t.Fatalf("the replica sent no RESERVE user.alice.Templates:\n%s", writesText(ws))
	}
	if want := []string{"user.alice.Templates", r.Primary.Servername + "!default"}; !slices.Equal(w.Args, want) {
		t.Errorf("the replica's RESERVE: %q, want %q", w.Args, want)
	}
	return w, "INBOX.Templates"
}

// replicatedCreates runs replicaCreateSteps on the primary, waits until
// the replica has them, and checks what the replica sent its master: the
// RESERVE of a name its primary had just activated at the same location,
// answered OK.
func replicatedCreates(t *testing.T, r *replicatedMurder) {
	t.Helper()
	r.Primary.RunSteps(t, replicaCreateSteps)
	waitReplica(t, r, func([]string) bool {
		e, ok := r.Replica.Dump(t)["user.alice.Sent"]
		return ok && e.ACL["bob"] == "lr"
	}, "user.alice.Sent with bob's ACL on the replica")
	loc := r.Primary.Servername + "!default"
	ws := relayWrites(t, r.ReplicaMU)
	for _, want := range []mupdateWrite{
		{"RESERVE", []string{"user.alice.Sent", loc}, `OK "done"`},
		{"RESERVE", []string{"user.alice", loc}, `OK "done"`},
	} {
		if got, ok := findWrite(ws, want.Op, want.Args[0]); !ok || !slices.Equal(got.Args, want.Args) || got.Answer != want.Answer {
			t.Errorf("the replica's %s %s: got %v (found %v), want %v\nreplica's writes:\n%s", want.Op, want.Args[0], got, ok, want, writesText(ws))
		}
	}
	if len(relayWrites(t, r.PrimaryMU)) == 0 {
		t.Errorf("the primary sent no MUPDATE writes")
	}
}

// replicatedRenameFails renames on the primary and waits until the
// replica's repeat has failed; it returns the replica's DELETE of the old
// name.
func replicatedRenameFails(t *testing.T, r *replicatedMurder) mupdateWrite {
	t.Helper()
	r.Primary.RunSteps(t, []murdertest.Step{{User: "alice", Op: "RENAME", Args: []string{"INBOX.Sent", "INBOX.Archive"}}})
	if !r.Primary.WaitLog("failed to rename: user.alice.Sent -> user.alice.Archive", 40*time.Second) {
		t.Fatalf("sync_client did not report the failed rename:\n%s\nreplica:\n%s", r.Primary.Log(), r.Replica.Log())
	}
	if !r.Replica.WaitLog("MUPDATE: can't commit mailbox entry for 'user.alice.Archive'", 10*time.Second) {
		t.Errorf("the replica did not log the MUPDATE failure:\n%s", r.Replica.Log())
	}
	names := replicaNames(t, r.Replica)
	if !slices.Contains(names, "user.alice.Sent") || slices.Contains(names, "user.alice.Archive") {
		t.Errorf("replica's mailboxes after the failed rename: %v, want the old name kept (rolled back)", names)
	}
	ws := relayWrites(t, r.ReplicaMU)
	del, ok := findWrite(ws, "DELETE", "user.alice.Sent")
	if !ok {
		t.Fatalf("the replica sent no DELETE user.alice.Sent:\n%s", writesText(ws))
	}
	return del
}

// replicatedEnd collects the murder's end state: the replica's names, the
// master's MUPDATE LIST (name -> "location id=rights ...", the primary's
// servername written SERVER), alice's IMAP LIST through the frontend
// (once it shows want, and INBOX.Sent only if want is not the rename's
// INBOX.Archive).
func replicatedEnd(t *testing.T, r *replicatedMurder, mupdateAddr, want string) replicatedOutcome {
	t.Helper()
	o := replicatedOutcome{ReplicaNames: replicaNames(t, r.Replica), Master: map[string]string{}}
	out, err := rawSession(mupdateAddr, "admin", "adminpw", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	var cur strings.Builder
	for _, l := range out[0] {
		cur.WriteString(l)
		if strings.HasSuffix(l, "}") { // a literal follows on the next line
			cur.WriteString("\r\n")
			continue
		}
		if w, ok := parseMailboxLine(cur.String()); ok {
			// the servername is a port that differs between murders
			o.Master[w.Args[0]] = strings.Replace(w.Args[1], r.Primary.Servername, "SERVER", 1) + " " + aclText(w.Args[2])
		}
		cur.Reset()
	}
	if len(o.Master) == 0 {
		t.Fatalf("the master lists nothing: %q", out)
	}
	for n := range o.Master {
		if strings.HasPrefix(n, "DELETED.") {
			delete(o.Master, n) // its name carries a timestamp
			o.Master["DELETED.*"] = "present"
		}
	}
	err = murdertest.Eventually(20*time.Second, func() error {
		items, err := listAs(t, r.Frontend, "alice")
		if err != nil {
			return err
		}
		o.AliceLIST = nil
		for _, it := range items {
			o.AliceLIST = append(o.AliceLIST, it.Name)
		}
		slices.Sort(o.AliceLIST)
		if !slices.Contains(o.AliceLIST, want) || (want == "INBOX.Archive") == slices.Contains(o.AliceLIST, "INBOX.Sent") {
			return fmt.Errorf("alice's LIST through the frontend: %v", o.AliceLIST)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	return o
}

// parseMailboxLine parses a LIST answer's `tag MAILBOX name loc acl`.
func parseMailboxLine(l string) (mupdateWrite, bool) {
	_, rest, _ := strings.Cut(l, " ")
	rest, ok := strings.CutPrefix(rest, "MAILBOX ")
	if !ok {
		return mupdateWrite{}, false
	}
	_, w, ok := parseWrite("* DELETE " + rest)
	return w, ok && len(w.Args) == 3
}

func aclText(acl string) string {
	f := strings.Split(strings.TrimSuffix(acl, "\t"), "\t")
	var parts []string
	for i := 0; i+1 < len(f); i += 2 {
		parts = append(parts, f[i]+"="+f[i+1])
	}
	return strings.Join(parts, " ")
}

func waitReplica(t *testing.T, r *replicatedMurder, ok func([]string) bool, what string) {
	t.Helper()
	var names []string
	err := murdertest.Eventually(40*time.Second, func() error {
		names = replicaNames(t, r.Replica)
		if ok(names) {
			return nil
		}
		return fmt.Errorf("not yet")
	})
	if err != nil {
		t.Fatalf("waiting for %s: replica holds %v\nprimary syslog:\n%s\nreplica syslog:\n%s\nreplica's MUPDATE writes:\n%s",
			what, names, r.Primary.Log(), r.Replica.Log(), writesText(relayWrites(t, r.ReplicaMU)))
	}
}

func writesText(ws []mupdateWrite) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String())
		b.WriteByte('\n')
	}
	return b.String()
}
