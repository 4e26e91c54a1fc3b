package mupdateserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// The real Cyrus 3.6.1 master's transcripts (testdata/transcripts; how they
// were recorded: docs/mupdate.md, "Tests and what they prove"), replayed in the order they were
// recorded against ONE server whose backend starts empty, as the lab's
// master did: every write the real master saw went through these
// connections, so the state evolves as it did there. Server bytes are
// compared exactly, apart from the deliberate differences below (also in
// docs/mupdate.md).
const transcriptDir = "../testdata/transcripts"

// Deliberate differences, applied to the expected bytes.
var bannerFixes = []struct{ from, to string }{
	// We offer no LOGIN (obsolete) and never COMPRESS (Cyrus clients cannot
	// detect it: they look for COMPRESS=DEFLATE).
	{"* AUTH \"PLAIN\" \"LOGIN\"\r\n", "* AUTH \"PLAIN\"\r\n"},
	{"* COMPRESS \"DEFLATE\"\r\n", ""},
}

// Where Cyrus crashes we answer NO and keep serving.
var crashFixes = map[string]struct{ after, answer string }{
	"H1-crash-delete-unknown.txt":                    {"X1 DELETE \"user.nosuch\"\r\n", "X1 NO \"mailbox doesn't exist\"\r\n"},
	"H2-crash-deactivate-unknown.txt":                {"D1 DEACTIVATE \"user.nosuch\" \"x!y\"\r\n", "D1 NO \"mailbox not currently active\"\r\n"},
	"H3-crash-deactivate-reserved-same-location.txt": {"D1 DEACTIVATE \"user.ivy\" \"127.0.0.1:11143!default\"\r\n", "D1 NO \"mailbox not currently active\"\r\n"},
}

// Sessions the real master ended by crashing (on another connection's
// request, H2/H3): we keep them open.
var closedByCrash = map[string]bool{
	"H1r-frontend-slave-reconnect-after-crash.txt": true,
	"H2r-frontend-slave-reconnect-after-crash.txt": true,
}

// Not replayed byte for byte, with the reason.
var notReplayed = map[string]string{
	"D-frontend-slave-update-stream.txt":           "a 105 s stream across all other sessions; Cyrus batches changes every 5 s and coalesces them per name, we stream each change at once, so lines interleave differently with the NOOP answers (semantics checked by TestStreamSemantics and the real-frontend test)",
	"F-default-mechs-backend-ctl_mboxlist-m-w.txt": "another master instance (Cyrus's default mechanism list, SCRAM-SHA-512 with random nonces); SCRAM with a real Cyrus client is checked in the interop tests",
	"H4-cleanup.txt": "replayed inside H3r, where it happened (its DELETE appears in H3r's stream)",
}

type record struct {
	client bool
	data   []byte
}

func unescape(t testing.TB, s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case '\\':
			b = append(b, '\\')
		case 'x':
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b = append(b, byte(v))
			i += 2
		default:
			t.Fatalf("bad escape \\%c in %q", s[i], s)
		}
	}
	return b
}

func readTranscript(t testing.TB, name string) (recs []record, serverClosed bool) {
	data, err := os.ReadFile(filepath.Join(transcriptDir, name))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "C: "):
			recs = append(recs, record{true, unescape(t, l[3:])})
		case strings.HasPrefix(l, "S: "):
			recs = append(recs, record{false, unescape(t, l[3:])})
		case strings.HasPrefix(l, "# +") && strings.HasSuffix(l, "server closed"):
			serverClosed = true
		}
	}
	return recs, serverClosed
}

type replayer struct {
	t     *testing.T
	ts    *testServer
	hooks map[string]map[int]func() // file → record index → run before it
}

func (r *replayer) replay(name string) {
	t := r.t
	t.Helper()
	recs, serverClosed := readTranscript(t, name)
	c := dialRaw(t, r.ts.addr)
	defer c.nc.Close()
	fix, crashed := crashFixes[name]
	var sent bytes.Buffer
	for i, rec := range recs {
		if h := r.hooks[name][i]; h != nil {
			h()
		}
		if rec.client {
			sent.Write(rec.data)
			c.send(string(rec.data))
			continue
		}
		want := string(rec.data)
		for _, f := range bannerFixes {
			want = strings.ReplaceAll(want, f.from, f.to)
		}
		if want == "" {
			continue
		}
		got := make([]byte, len(want))
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := io.ReadFull(c.br, got); err != nil {
			t.Fatalf("%s record %d: reading %q: %v (got %q)", name, i, want, err, got[:n])
		}
		if string(got) != want {
			t.Fatalf("%s record %d:\n got  %q\n want %q", name, i, got, want)
		}
	}
	if crashed {
		// Cyrus died here; we answer NO and go on serving.
		if fix.after != "" && !strings.HasSuffix(sent.String(), fix.after) {
			t.Fatalf("%s: transcript does not end with %q", name, fix.after)
		}
		l := c.line()
		if !strings.HasSuffix(l, fix.answer) {
			t.Fatalf("%s: got %q, want ...%q", name, l, fix.answer)
		}
		c.send("Z1 NOOP\r\n")
		if l := c.line(); l != "Z1 OK \"Noop done\"\r\n" {
			t.Fatalf("%s: server did not keep serving: %q", name, l)
		}
		return
	}
	if serverClosed && !closedByCrash[name] {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := c.br.ReadByte(); err != io.EOF {
			t.Fatalf("%s: server did not close (read %q, %v)", name, b, err)
		}
	}
}

// write applies a write to the backend directly (another connection of
// the lab that bypassed the recording tap).
func (r *replayer) write(op mupdate.Op, name, loc, acl string) func() {
	return func() {
		if err := r.ts.be.Write(context.Background(), mupdate.Request{Op: op, Name: name, Location: loc, ACL: acl}); err != nil {
			r.t.Fatalf("%v %s: %v", op, name, err)
		}
	}
}

// recordIndex finds the first record of a transcript with the given text
// at or after record from.
func recordIndex(t testing.TB, name string, client bool, text string, from int) int {
	recs, _ := readTranscript(t, name)
	for i := from; i < len(recs); i++ {
		if recs[i].client == client && string(recs[i].data) == text {
			return i
		}
	}
	t.Fatalf("%s: no record %q", name, text)
	return -1
}

func TestGoldenTranscripts(t *testing.T) {
	ts := startServer(t, func(c *mupdateserver.Config) {
		c.Mechanisms = []string{"PLAIN"}
		c.Impl = "Cyrus IMAP"
		c.Version = "3.6.1-Debian-3.6.1-4+deb12u5"
	})
	r := &replayer{t: t, ts: ts, hooks: map[string]map[int]func(){}}

	// G: meanwhile another (untapped) connection ACTIVATEd user.frank at
	// otherhost!p, user.gina, RESERVEd user.hank at h9!default, and later
	// deleted all three.
	g := "G-partial-update.txt"
	n1 := recordIndex(t, g, false, "N1 OK \"Noop done\"\r\n", 0)
	n2 := recordIndex(t, g, true, "N2 NOOP\r\n", n1)
	r.hooks[g] = map[int]func(){
		n1 + 1: func() {
			r.write(mupdate.OpActivate, "user.frank", "otherhost!p", "frank\tlrs\t")()
			r.write(mupdate.OpActivate, "user.gina", "127.0.0.1:11143!default", "gina\tlrs\t")()
			r.write(mupdate.OpReserve, "user.hank", "h9!default", "")()
		},
		n2: func() {
			r.write(mupdate.OpDelete, "user.frank", "", "")()
			r.write(mupdate.OpDelete, "user.gina", "", "")()
			r.write(mupdate.OpDelete, "user.hank", "", "")()
		},
	}
	// H3r: H4 ran (on another connection) between N0 and N1.
	h3r := "H3r-frontend-slave-reconnect-after-crash.txt"
	r.hooks[h3r] = map[int]func(){
		recordIndex(t, h3r, true, "N1 NOOP\r\n", 0): func() { r.replay("H4-cleanup.txt") },
	}

	files, err := filepath.Glob(filepath.Join(transcriptDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	type tr struct {
		when time.Time
		name string
	}
	var order []tr
	for _, f := range files {
		name := filepath.Base(f)
		data, _ := os.ReadFile(f)
		first, _, _ := strings.Cut(string(data), "\n")
		var stamp string
		if _, err := fmt.Sscanf(first, "# %s", &stamp); err != nil {
			continue // not a transcript (H.syslog.txt)
		}
		when, err := time.Parse("2006-01-02T15:04:05", stamp)
		if err != nil {
			continue
		}
		order = append(order, tr{when, name})
	}
	sort.SliceStable(order, func(i, j int) bool {
		if !order[i].when.Equal(order[j].when) {
			return order[i].when.Before(order[j].when)
		}
		return order[i].name < order[j].name // A-mupdatetest before A-scripted (connections 2, 3)
	})
	replayed := 0
	for _, o := range order {
		if why, skip := notReplayed[o.name]; skip {
			t.Logf("not replayed: %s: %s", o.name, why)
			continue
		}
		r.replay(o.name)
		replayed++
	}
	if replayed < 25 {
		t.Fatalf("replayed only %d transcripts", replayed)
	}

	// The end state equals the real master's mailboxes.db after the run
	// (ctl_mboxlist -d), entry by entry.
	checkAgainstMasterDump(t, ts)
}

func checkAgainstMasterDump(t *testing.T, ts *testServer) {
	data, err := os.ReadFile(filepath.Join(transcriptDir, "master-mailboxes.db.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dump map[string]struct {
		MBType    string            `json:"mbtype"`
		Server    string            `json:"server"`
		Partition string            `json:"partition"`
		ACL       map[string]string `json:"acl"`
	}
	if err := json.Unmarshal(data, &dump); err != nil {
		t.Fatal(err)
	}
	snap, err := ts.be.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]mupdate.Mailbox{}
	snap.Range(context.Background(), func(m mupdate.Mailbox) error { got[m.Name] = m; return nil })
	if len(got) != len(dump) {
		t.Errorf("end state has %d mailboxes, the real master %d", len(got), len(dump))
	}
	for name, d := range dump {
		m, ok := got[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		wantState := mupdate.Active
		if strings.Contains(d.MBType, "z") {
			wantState = mupdate.Reserved
		}
		if m.State != wantState || m.Location != d.Server+"!"+d.Partition {
			t.Errorf("%s: got %v at %q, want %v at %q", name, m.State, m.Location, wantState, d.Server+"!"+d.Partition)
		}
		f := strings.Split(strings.TrimSuffix(m.ACL, "\t"), "\t")
		acl := map[string]string{}
		for i := 0; i+1 < len(f); i += 2 {
			acl[f[i]] = f[i+1]
		}
		if fmt.Sprint(acl) != fmt.Sprint(d.ACL) && !(len(acl) == 0 && len(d.ACL) == 0) {
			t.Errorf("%s: ACL %v, want %v", name, acl, d.ACL)
		}
	}
}
