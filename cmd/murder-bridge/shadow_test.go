package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/cyrusimapd"
	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
	"github.com/murderkit/murderkit/shadow"
)

var shadowUsers = map[string]string{"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}

// shadowPair starts two real Cyrus imapd with the same mailboxes, then
// makes exactly two users differ on the new one: bob gets an extra folder
// (only-new INBOX.extra), carol loses her right on cshare (only-old cshare).
func shadowPair(t *testing.T) (old, new *cyrusimapd.Server) {
	t.Helper()
	common := []string{
		"CREATE user.alice", "CREATE user.alice.Sent", "CREATE user.alice.&AOk-t&AOk-",
		"CREATE user.bob", "CREATE user.bob.top", "SETACL user.bob.top anyone lr",
		"CREATE user.carol", "CREATE user.carol.Drafts",
		"CREATE shared.lab", "SETACL shared.lab anyone lrs",
		"CREATE cshare", "SETACL cshare anyone \"\"",
	}
	old = cyrusimapd.Start(t, cyrusimapd.Options{Users: shadowUsers})
	new = cyrusimapd.Start(t, cyrusimapd.Options{Users: shadowUsers})
	old.Admin(t, append(common, "SETACL cshare carol lr")...)
	new.Admin(t, append(common, "CREATE user.bob.extra")...)
	return old, new
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runShadowTest(t *testing.T, o *shadowOptions) (stdout, stderr string, code int) {
	t.Helper()
	if err := o.check(); err != nil {
		t.Fatalf("check: %v", err)
	}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := runShadow(ctx, o, &out, &errb)
	return out.String(), errb.String(), exitcode.Of(err)
}

func defaults(o *shadowOptions) *shadowOptions {
	o.concurrency, o.rate, o.timeout, o.retries, o.progress = 4, 0, 30*time.Second, 1, "none"
	return o
}

func TestShadowIMAPvsIMAP(t *testing.T) {
	old, nw := shadowPair(t)
	dir := t.TempDir()
	users := writeFile(t, dir, "users", "# all three\nalice:alicepw\nbob:bobpw\n\ncarol:carolpw\n")
	report, jsonFile := filepath.Join(dir, "r.html"), filepath.Join(dir, "r.jsonl")
	o := defaults(&shadowOptions{old: "imap://" + old.Addr, new: "imap://" + nw.Addr, usersFile: users, report: report, jsonFile: jsonFile})
	stdout, stderr, code := runShadowTest(t, o)
	if code != exitcode.Difference {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	sort.Strings(lines)
	want := []string{
		`bob: only-new "INBOX.extra" delim="." attrs=(\HasNoChildren)`,
		`carol: only-old "cshare" delim="." attrs=(\HasNoChildren)`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(stderr, "3 users: 3 compared, 1 equal, 2 different, 0 errors") {
		t.Errorf("summary missing from stderr: %s", stderr)
	}
	// JSON lines: one per user, statuses and names.
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	res, err := shadow.ReadResults(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res["alice"].Status != shadow.Equal || res["bob"].Status != shadow.Different || res["carol"].Status != shadow.Different {
		t.Errorf("json results: %s", data)
	}
	if d := res["carol"].Differences; len(d) != 1 || d[0].Kind != shadow.OnlyOld || d[0].Name != "cshare" {
		t.Errorf("carol's differences in JSON: %+v", d)
	}
	checkHTMLInChromium(t, report)

	// Only the equal user: exit 0, nothing on stdout.
	o = defaults(&shadowOptions{old: "imap://" + old.Addr, new: "imap://" + nw.Addr, usersFile: writeFile(t, dir, "alice", "alice:alicepw\n")})
	o.progress = "json"
	if stdout, stderr, code := runShadowTest(t, o); code != 0 || stdout != "" {
		t.Errorf("equal user: exit %d stdout %q stderr %q", code, stdout, stderr)
	} else if !strings.Contains(stderr, `{"done":1,"status":"equal","total":1,"user":"alice"}`) {
		t.Errorf("--progress json: no progress line on stderr: %q", stderr)
	}

	// A wrong password is an error for that user (exit 6), named on stdout.
	o = defaults(&shadowOptions{old: "imap://" + old.Addr, new: "imap://" + nw.Addr, usersFile: writeFile(t, dir, "bad", "alice:nope\n")})
	if stdout, _, code := runShadowTest(t, o); code != exitcode.Network || !strings.HasPrefix(stdout, "alice: error ") {
		t.Errorf("wrong password: exit %d stdout %q", code, stdout)
	}

	// Resume: a second run with the same resume file compares nobody
	// again, reports the same differences and exit status.
	resume := filepath.Join(dir, "state")
	o = defaults(&shadowOptions{old: "imap://" + old.Addr, new: "imap://" + nw.Addr, usersFile: users, resume: resume})
	first, _, code1 := runShadowTest(t, o)
	o.proxyUser = "" // the same options again
	second, stderr2, code2 := runShadowTest(t, o)
	if code1 != 1 || code2 != 1 || sortedLines(first) != sortedLines(second) {
		t.Errorf("resume: exits %d/%d\nfirst:\n%s\nsecond:\n%s", code1, code2, first, second)
	}
	if !strings.Contains(stderr2, "(3 taken from the resume file)") {
		t.Errorf("second run did not resume: %s", stderr2)
	}
}

func sortedLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

// TestShadowDump compares a real imapd against what the registry side
// computes from the same server's `ctl_mboxlist -d`, for every owner, with
// an admin authorizing as each user: equal, exit 0. Then the dump loses a
// right and the user is named.
func TestShadowDump(t *testing.T) {
	old, _ := shadowPair(t)
	dir := t.TempDir()
	cmd := cyrustest.AsCyrus(cyrustest.Tool(t, "ctl_mboxlist"), "-C", old.Conf, "-d")
	dump, err := cmd.Output()
	if err != nil {
		t.Fatalf("ctl_mboxlist -d: %v", err)
	}
	dumpFile := writeFile(t, dir, "dump.json", string(dump))
	pw := writeFile(t, dir, "admin.pw", cyrusimapd.AdminPassword+"\n")
	o := defaults(&shadowOptions{old: "imap://" + old.Addr, dump: dumpFile, allOwners: true, proxyUser: cyrusimapd.AdminUser, proxyPassFile: pw})
	stdout, stderr, code := runShadowTest(t, o)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "3 users: 3 compared, 3 equal") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The same entries in a real goleveldb registry: equal.
	regDir := filepath.Join(dir, "registry")
	func() {
		ctx := context.Background()
		st, err := leveldb.Open(ctx, regDir, &leveldb.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		dec := mboxlist.NewJSONDecoder(bytes.NewReader(dump))
		var entries []registry.Entry
		for dec.Next() {
			entries = append(entries, registry.Entry{Entry: *dec.Entry()})
		}
		if err := dec.Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Import(ctx, entries); err != nil {
			t.Fatal(err)
		}
	}()
	ro := defaults(&shadowOptions{old: "imap://" + old.Addr, registry: "leveldb://" + regDir, allOwners: true, proxyUser: cyrusimapd.AdminUser, proxyPassFile: pw})
	stdout, stderr, code = runShadowTest(t, ro)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "3 users: 3 compared, 3 equal") {
		t.Fatalf("--registry: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// The same registry behind a bridge's HTTP API (--registry http://): equal.
	func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := leveldb.Open(ctx, regDir, &leveldb.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		api, err := httpapi.New(httpapi.Config{Store: st, Token: "shadow-token"})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan struct{})
		go func() { api.Serve(ctx, ln); close(served) }()
		defer func() { cancel(); <-served }()
		bo := defaults(&shadowOptions{old: "imap://" + old.Addr, registry: "http://" + ln.Addr().String(), allOwners: true, proxyUser: cyrusimapd.AdminUser, proxyPassFile: pw})
		// without the token: refused as a usage error, nothing compared
		if stdout, stderr, code := runShadowTest(t, bo); code != exitcode.Usage || stdout != "" {
			t.Fatalf("--registry http:// without --token-file: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		bo.tokenFile = writeFile(t, dir, "token", "shadow-token\n")
		stdout, stderr, code := runShadowTest(t, bo)
		if code != 0 || stdout != "" || !strings.Contains(stderr, "3 users: 3 compared, 3 equal") {
			t.Fatalf("--registry http://: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	}()

	// carol's right on cshare removed from the dump: carol differs.
	changed := regexp.MustCompile(`"acl": \{"carol": "lr"\}`).ReplaceAllString(string(dump), `"acl": {}`)
	if changed == string(dump) {
		t.Fatalf("fixture: carol's ACL on cshare not found in the dump:\n%s", dump)
	}
	o.dump = writeFile(t, dir, "dump2.json", changed)
	stdout, stderr, code = runShadowTest(t, o)
	if code != 1 || strings.TrimSpace(stdout) != `carol: only-old "cshare" delim="." attrs=(\HasNoChildren)` {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// The right through a group instead: carol is in group:crew per
	// --groups, so the dump side shows cshare to her again.
	viaGroup := regexp.MustCompile(`"acl": \{"carol": "lr"\}`).ReplaceAllString(string(dump), `"acl": {"group:crew": "lr"}`)
	o.dump = writeFile(t, dir, "dump3.json", viaGroup)
	o.groupsFile = writeFile(t, dir, "groups", "# user: groups\ncarol: crew group:other\n")
	stdout, stderr, code = runShadowTest(t, o)
	if code != 0 || stdout != "" {
		t.Errorf("--groups: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestShadowUsage(t *testing.T) {
	for _, o := range []*shadowOptions{
		{new: "imap://x", usersFile: "u"},
		{old: "imap://x", usersFile: "u"},
		{old: "imap://x", new: "imap://y", dump: "d", usersFile: "u"},
		{old: "imap://x", new: "imap://y"},
		{old: "imap://x", new: "imap://y", allOwners: true},
		{old: "imap://x", new: "imap://y", usersFile: "u", concurrency: 0},
	} {
		if o.concurrency == 0 && o.usersFile == "" {
			o.concurrency = 1
		}
		o.progress = "none"
		if err := o.check(); exitcode.Of(err) != exitcode.Usage {
			t.Errorf("check(%+v) = %v, want a usage error", o, err)
		}
	}
	if _, err := readUsers(strings.NewReader("alice\n"), false); err == nil {
		t.Errorf("a bare user without --proxy-user was accepted")
	}
	u, err := readUsers(strings.NewReader("alice:pa:ss\r\n# x\nbob\n"), true)
	if err != nil || len(u) != 2 || u[0].Password != "pa:ss" || u[1].Name != "bob" {
		t.Errorf("readUsers = %+v, %v", u, err)
	}
}

// checkHTMLInChromium renders the report in headless Chromium and checks
// what a person sees: the summary numbers, a differing user's side-by-side
// rows, and the status filter (preset from the address) hiding equal users.
func checkHTMLInChromium(t *testing.T, report string) {
	t.Helper()
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("headless Chromium is needed to check the HTML report (apt-get install -y chromium, or make deps): %v", err)
	}
	dump := func(fragment string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
			"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+report+fragment)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium --dump-dom: %v\n%s", err, errb.Bytes())
		}
		return out.String()
	}
	dom := dump("")
	if p := os.Getenv("SHADOW_SCREENSHOT"); p != "" {
		exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+t.TempDir(), "--window-size=1200,1100", "--screenshot="+p, "file://"+report).Run()
	}
	for id, want := range map[string]string{"n-users": "3", "n-compared": "3", "n-equal": "1", "n-different": "2", "n-errors": "0"} {
		re := regexp.MustCompile(`id="` + id + `">(\d+)<`)
		m := re.FindStringSubmatch(dom)
		if m == nil || m[1] != want {
			t.Errorf("rendered %s = %v, want %s", id, m, want)
		}
	}
	if !strings.Contains(dom, `<span id="f-count">3 users shown</span>`) {
		t.Errorf("the filter script did not run on load (no '3 users shown')")
	}
	// carol's section shows cshare on the old side only, marked as a
	// difference, next to the rows that are the same.
	sec := regexp.MustCompile(`(?s)<section class="user-detail" id="u-carol".*?</section>`).FindString(dom)
	if sec == "" {
		t.Fatalf("no side-by-side section for carol in the rendered report")
	}
	row := regexp.MustCompile(`(?s)<tr class="diff" data-name="cshare">.*?</tr>`).FindString(sec)
	if !strings.Contains(row, `<td class="old-attrs">\HasNoChildren</td>`) || !strings.Contains(row, "not listed") || !strings.Contains(row, "only_old") {
		t.Errorf("carol's cshare row: %q", row)
	}
	if !strings.Contains(sec, `<tr class="same" data-name="INBOX.Drafts">`) {
		t.Errorf("carol's equal rows are not shown side by side")
	}
	// Filter preset from the address: only different users remain visible.
	dom = dump("#status=different")
	if !strings.Contains(dom, "2 users shown") {
		t.Errorf("status filter: count not updated")
	}
	aliceRow := regexp.MustCompile(`<tr class="user-row status-equal[^"]*" data-user="alice"`).FindString(dom)
	if !strings.Contains(aliceRow, "hidden") {
		t.Errorf("status filter did not hide alice: %q", aliceRow)
	}
	dom = dump("#user=bob")
	if !strings.Contains(dom, "1 users shown") {
		t.Errorf("user filter: count not updated")
	}
}

// TestShadowProxyCredentials: an empty --proxy-password-file is refused
// before anything runs (as an empty --follow-password-file is), and a wrong
// admin password is one authentication error (exit 8) found before the first
// user, not a failed login per user.
func TestShadowProxyCredentials(t *testing.T) {
	old := cyrusimapd.Start(t, cyrusimapd.Options{Users: shadowUsers})
	old.Admin(t, "CREATE user.alice", "CREATE user.bob", "CREATE user.carol")
	dir := t.TempDir()
	users := writeFile(t, dir, "users", "alice\nbob\ncarol\n")
	dump := writeFile(t, dir, "dump.json", "{}")

	empty := writeFile(t, dir, "empty.pw", "\n")
	o := defaults(&shadowOptions{old: "imap://" + old.Addr, dump: dump, usersFile: users, proxyUser: cyrusimapd.AdminUser, proxyPassFile: empty})
	stdout, stderr, code := runShadowTest(t, o)
	if code != exitcode.Input || stdout != "" {
		t.Errorf("empty --proxy-password-file: exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout", code, stdout, stderr, exitcode.Input)
	}

	wrong := writeFile(t, dir, "wrong.pw", "not-the-admin-password\n")
	o = defaults(&shadowOptions{old: "imap://" + old.Addr, dump: dump, usersFile: users, proxyUser: cyrusimapd.AdminUser, proxyPassFile: wrong})
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	start := time.Now()
	err := runShadow(context.Background(), o, &out, &errb)
	took := time.Since(start)
	if exitcode.Of(err) != exitcode.Auth || out.Len() != 0 {
		t.Fatalf("wrong admin password: exit %d (%v), stdout %q; want exit %d and nothing on stdout", exitcode.Of(err), err, out.String(), exitcode.Auth)
	}
	if msg := err.Error(); !strings.Contains(msg, "--proxy-password-file") || !strings.Contains(msg, "as admin") || strings.Contains(msg, "alice") {
		t.Errorf("wrong admin password: error %q should name the admin login and the flags, not a user", msg)
	}
	// one login attempt (Cyrus delays a failed login ~3 s), not one per user
	if took > 6*time.Second {
		t.Errorf("wrong admin password took %v: more than the one failed admin login", took)
	}
	t.Logf("wrong admin password refused in %v: %v", took, err)
}

// TestShadowInterrupted: a run stopped by its context (SIGINT/SIGTERM in
// main) exits Interrupted, not "network error".
func TestShadowInterrupted(t *testing.T) {
	old := cyrusimapd.Start(t, cyrusimapd.Options{Users: shadowUsers})
	dir := t.TempDir()
	var lines []string
	for i := 0; i < 50; i++ {
		lines = append(lines, "alice:alicepw")
		lines[i] = strings.Replace(lines[i], "alice", "alice"+strings.Repeat("x", i), 1)
	}
	users := writeFile(t, dir, "users", strings.Join(lines, "\n")+"\n")
	dump := writeFile(t, dir, "dump.json", "{}")
	o := defaults(&shadowOptions{old: "imap://" + old.Addr, dump: dump, usersFile: users})
	o.rate, o.concurrency = 2, 1
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	err := runShadow(ctx, o, &out, &errb)
	if exitcode.Of(err) != exitcode.Interrupted || !strings.Contains(fmt.Sprint(err), "interrupted after") {
		t.Fatalf("interrupted shadow: exit %d (%v), want %d", exitcode.Of(err), err, exitcode.Interrupted)
	}
}
