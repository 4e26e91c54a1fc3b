package httpapi_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/mupdatemetrics"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

const token = "s3cret-token"

func setup(t *testing.T, fs httpapi.FollowStatus) (registry.Store, *httpapi.Server, *httptest.Server) {
	t.Helper()
	st, err := leveldb.Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, e := range []registry.Entry{
		mk("user.alice", "127.0.0.1:11143", "default", "alice", "lrswipkxtecdan", "bob", "lr"),
		mk("user.alice.Sent", "127.0.0.1:11143", "default", "alice", "lrswipkxtecdan"),
		mk("user.bob", "localhost", "p2", "bob", "lrswipkxtecdan"),
		mk("example.com!user.jane^doe", "127.0.0.2:143", "default", "jane.doe@example.com", "lrswipkxtecdan"),
		mk("shared.lab", "127.0.0.1:11143", "default", "anyone", "lrs"),
		mk("user.gone", "127.0.0.1:11143", "default", "gone", "lrswipkxtecdan"),
	} {
		if _, err := st.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Delete(ctx, "user.gone", 0); err != nil {
		t.Fatal(err)
	}
	r := mk("user.moving", "127.0.0.1:11143", "default")
	r.Type |= mboxlist.FlagReserve
	if _, err := st.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{Store: st, Follow: fs, Token: token, Logger: quiet(), MaxLag: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return st, srv, ts
}

func mk(name, server, part string, acl ...string) registry.Entry {
	e := registry.Entry{Entry: mboxlist.Entry{Name: name, Type: mboxlist.FlagRemote, Server: server, Partition: part, ACL: mboxlist.ACL{}}}
	for i := 0; i+1 < len(acl); i += 2 {
		e.ACL = append(e.ACL, mboxlist.ACLItem{ID: acl[i], Rights: acl[i+1]})
	}
	e.Normalize()
	return e
}

func get(t *testing.T, u string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func do(t *testing.T, method, u, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type fakeFollow struct{ st follow.Status }

func (f fakeFollow) Status() follow.Status { return f.st }

func TestHealthAndReady(t *testing.T) {
	_, _, ts := setup(t, nil)
	if r, b := get(t, ts.URL+"/healthz", nil); r.StatusCode != 200 || b != "ok\n" {
		t.Errorf("/healthz = %d %q", r.StatusCode, b)
	}
	if r, b := get(t, ts.URL+"/readyz", nil); r.StatusCode != 200 || !strings.Contains(b, `"ready":true`) {
		t.Errorf("/readyz = %d %s", r.StatusCode, b)
	}
	for _, c := range []struct {
		lag  time.Duration
		want int
		text string
	}{{-1, 503, "no full list"}, {time.Minute, 503, "exceeds"}, {2 * time.Second, 200, `"ready":true`}} {
		_, _, ts := setup(t, fakeFollow{follow.Status{Master: "m:3905", Lag: c.lag}})
		if r, b := get(t, ts.URL+"/readyz", nil); r.StatusCode != c.want || !strings.Contains(b, c.text) {
			t.Errorf("lag %v: /readyz = %d %s, want %d with %q", c.lag, r.StatusCode, b, c.want, c.text)
		}
	}
	// a closed registry is not ready
	st, _, ts2 := setup(t, nil)
	st.Close()
	if r, b := get(t, ts2.URL+"/readyz", nil); r.StatusCode != 503 || !strings.Contains(b, "registry unreachable") {
		t.Errorf("closed registry: /readyz = %d %s", r.StatusCode, b)
	}
}

func TestClientMatchesStore(t *testing.T) {
	st, _, ts := setup(t, nil)
	ctx := context.Background()
	c, err := httpapi.NewClient(ts.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"user.alice", "example.com!user.jane^doe", "shared.lab", "user.moving"} {
		want, err := st.Get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, n)
		if err != nil {
			t.Fatalf("client Get(%q) = %v", n, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Get(%q) through HTTP differs (-store +http):\n%s", n, d)
		}
	}
	if _, err := c.Get(ctx, "user.nobody"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	wantT, _ := st.GetTombstone(ctx, "user.gone")
	gotT, err := c.GetTombstone(ctx, "user.gone")
	if err != nil || !gotT.Time.Equal(wantT.Time) || gotT.Revision != wantT.Revision || gotT.Name != "user.gone" {
		t.Errorf("GetTombstone = %+v %v, want %+v", gotT, err, wantT)
	}
	for _, q := range []struct {
		user   string
		groups []string
	}{{"bob", nil}, {"alice", nil}, {"jane.doe@example.com", nil}, {"carol", []string{"staff"}}} {
		want, err := st.Visible(ctx, q.user, q.groups)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Visible(ctx, q.user, q.groups)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" || len(want) == 0 && q.user == "bob" {
			t.Errorf("Visible(%s) (-store +http):\n%s", q.user, d)
		}
	}
	if _, err := c.Visible(ctx, "", nil); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("Visible(\"\") = %v, want ErrInvalid", err)
	}
	// List (GET /v1/mailboxes) with the token: what the store lists
	count := func(list func(context.Context, string, func(registry.Entry) error) (int64, error)) int {
		n := 0
		if _, err := list(ctx, "", func(registry.Entry) error { n++; return nil }); err != nil {
			t.Fatalf("List: %v", err)
		}
		return n
	}
	if got, want := count(c.List), count(st.List); got != want || want == 0 {
		t.Errorf("List through HTTP: %d entries, the store %d", got, want)
	}
}

func TestSlotsNeedToken(t *testing.T) {
	_, _, ts := setup(t, nil)
	body := `{"Name":"s1","State":"mirrored","Locations":[{"Server":"127.0.0.1:11143"}]}`
	if code, b := do(t, "POST", ts.URL+"/v1/slots", "", body); code != 401 || !strings.Contains(b, "Bearer") {
		t.Errorf("write without token = %d %s", code, b)
	}
	if code, _ := do(t, "POST", ts.URL+"/v1/slots", "Bearer wrong", body); code != 401 {
		t.Errorf("write with a wrong token = %d", code)
	}
	if code, b := do(t, "POST", ts.URL+"/v1/slots", "Bearer "+token, body); code != 201 {
		t.Fatalf("create = %d %s", code, b)
	}
	if code, _ := do(t, "POST", ts.URL+"/v1/slots", "Bearer "+token, body); code != 409 {
		t.Errorf("second create = %d, want 409", code)
	}
	ctx := context.Background()
	c, _ := httpapi.NewClient(ts.URL, token)
	s, err := c.GetSlot(ctx, "s1")
	if err != nil || s.State != registry.SlotMirrored {
		t.Fatalf("GetSlot = %+v %v", s, err)
	}
	if err := s.Transition(registry.SlotShadowClean, "test", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	s2, err := c.UpdateSlot(ctx, s)
	if err != nil {
		t.Fatalf("UpdateSlot = %v", err)
	}
	if _, err := c.UpdateSlot(ctx, s); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("stale UpdateSlot = %v, want conflict", err)
	}
	ro, _ := httpapi.NewClient(ts.URL, "")
	if err := ro.DeleteSlot(ctx, "s1", s2.Revision); err == nil {
		t.Errorf("delete without a token succeeded")
	}
	if err := c.DeleteSlot(ctx, "s1", s2.Revision); err != nil {
		t.Errorf("DeleteSlot = %v", err)
	}
	// no token configured: writes are refused outright
	st, _ := leveldb.Open(ctx, t.TempDir(), nil)
	defer st.Close()
	srv, _ := httpapi.New(httpapi.Config{Store: st, Logger: quiet()})
	ts2 := httptest.NewServer(srv.Handler())
	defer ts2.Close()
	if code, b := do(t, "POST", ts2.URL+"/v1/slots", "Bearer "+token, body); code != 403 || !strings.Contains(b, "--http-token-file") {
		t.Errorf("write with no token configured = %d %s", code, b)
	}
}

// Bad input at every endpoint: a clear 4xx with a JSON error, never a 5xx.
func TestBadInput(t *testing.T) {
	_, _, ts := setup(t, nil)
	auth := "Bearer " + token
	cases := []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/mailboxes/", "", 404},
		{"GET", "/v1/mailboxes/..", "", 404},
		{"GET", "/v1/mailboxes/user.%00x", "", 400},
		{"GET", "/v1/mailboxes/" + strings.Repeat("a", 5000), "", 400},
		{"GET", "/v1/visible", "", 400},
		{"GET", "/v1/visible?user=a&user=b", "", 400},
		{"GET", "/v1/visible?user=bad!user", "", 400},
		{"GET", "/v1/visible?user=bob&group=", "", 400},
		{"GET", "/v1/slots/nope", "", 404},
		{"POST", "/v1/slots", "{", 400},
		{"POST", "/v1/slots", `{"Name":"x","State":"bogus"}`, 400},
		{"POST", "/v1/slots", `{"Name":"x","State":"legacy","Extra":1}`, 400},
		{"POST", "/v1/slots", `{"Name":"x","State":"legacy"}{}`, 400},
		{"POST", "/v1/slots", `{"Name":"a/b","State":"legacy"}`, 400},
		{"POST", "/v1/slots", strings.Repeat(" ", 2<<20), 400},
		// locations real Cyrus cannot hold (mboxlist.CheckLocation)
		{"POST", "/v1/slots", `{"Name":"x","State":"legacy","Locations":[{"Server":"be 1"}]}`, 400},
		{"POST", "/v1/slots", `{"Name":"x","State":"legacy","Locations":[{"Server":"be1","Partition":"p\u0001"}]}`, 400},
		{"POST", "/v1/slots", `{"Name":"x","State":"legacy","Locations":[{"Server":"be1","Partition":"` + strings.Repeat("p", 65) + `"}]}`, 400},
		{"POST", "/v1/slots", `{"Name":"x","State":"legacy","Locations":[{"Server":"` + strings.Repeat("s", 513) + `"}]}`, 400},
		{"PUT", "/v1/slots/x", `{"Name":"y","State":"legacy","Revision":1}`, 400},
		{"PUT", "/v1/slots/x", `{"Name":"x","State":"legacy"}`, 400},
		{"PUT", "/v1/slots/x", `{"Name":"x","State":"legacy","Revision":99}`, 404},
		{"DELETE", "/v1/slots/x", "", 400},
		{"DELETE", "/v1/slots/x?revision=-1", "", 400},
		{"DELETE", "/v1/slots/x?revision=abc", "", 400},
		{"PATCH", "/v1/slots/x", "", 404},
		{"GET", "/nope", "", 404},
		{"GET", "/auth", "", 400},
	}
	for _, c := range cases {
		code, b := do(t, c.method, ts.URL+c.path, auth, c.body)
		if code != c.want {
			t.Errorf("%s %s = %d %s, want %d", c.method, c.path, code, b, c.want)
		}
		if code >= 500 {
			t.Errorf("%s %s: server error %d", c.method, c.path, code)
		}
	}
	// the server still answers
	if r, _ := get(t, ts.URL+"/healthz", nil); r.StatusCode != 200 {
		t.Errorf("after bad input: /healthz = %d", r.StatusCode)
	}
}

func TestAuthHTTP(t *testing.T) {
	_, _, ts := setup(t, nil)
	h := func(user, proto string) map[string]string {
		return map[string]string{"Auth-Method": "plain", "Auth-User": user, "Auth-Pass": "whatever", "Auth-Protocol": proto, "Auth-Login-Attempt": "1", "Client-IP": "192.0.2.1"}
	}
	cases := []struct {
		user, proto          string
		status, server, port string
	}{
		{"alice", "imap", "OK", "127.0.0.1", "11143"},
		{"Alice", "imap", "OK", "127.0.0.1", "11143"}, // username_tolower
		{"bob", "imap", "OK", "127.0.0.1", "143"},     // "localhost" resolved, protocol port
		{"bob", "pop3", "OK", "127.0.0.1", "110"},     // "localhost" resolved
		{"jane.doe@example.com", "imap", "OK", "127.0.0.2", "143"},
		{"nobody", "imap", "Invalid login or password", "", ""},
		{"gone", "imap", "Invalid login or password", "", ""},
		{"moving", "imap", "Temporary server problem, try again later", "", ""},
		{"bad user", "imap", "Invalid login or password", "", ""},
	}
	for _, c := range cases {
		r, _ := get(t, ts.URL+"/auth", h(c.user, c.proto))
		got := [3]string{r.Header.Get("Auth-Status"), r.Header.Get("Auth-Server"), r.Header.Get("Auth-Port")}
		if got != [3]string{c.status, c.server, c.port} {
			t.Errorf("auth_http %s/%s = %q, want %q", c.user, c.proto, got, [3]string{c.status, c.server, c.port})
		}
		if c.status != "OK" && r.Header.Get("Auth-Wait") == "" {
			t.Errorf("auth_http %s: failure without Auth-Wait", c.user)
		}
	}
	cram := h("alice", "imap")
	cram["Auth-Method"] = "cram-md5"
	if r, _ := get(t, ts.URL+"/auth", cram); r.Header.Get("Auth-Status") != "Invalid login or password" {
		t.Errorf("cram-md5 = %q, want refused (pass-through needs the plain password)", r.Header.Get("Auth-Status"))
	}
	if r, _ := get(t, ts.URL+"/auth", h("alice", "gopher")); r.StatusCode != 400 || r.Header.Get("Auth-Status") == "OK" {
		t.Errorf("unknown protocol = %d %q", r.StatusCode, r.Header.Get("Auth-Status"))
	}
}

// Metrics: MUPDATE commands through a real server on the wrapped backend.
func TestMetrics(t *testing.T) {
	st, srv, ts := setup(t, fakeFollow{follow.Status{Lag: 1500 * time.Millisecond, Connected: true, Synced: true, Resyncs: 2}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cr, _ := creds.Parse(strings.NewReader("murder:murderpw\n"))
	ms, err := mupdateserver.New(mupdateserver.Config{Backend: mupdatemetrics.New(srv.Metrics().Registry, srv.Metrics().RegistryError).Wrap(bridge.New(st)), Auth: cr, Logger: quiet(), FailedLoginPause: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go ms.Serve(ctx, ln)
	defer ms.Close()
	c, err := mupdateclient.Dial(ctx, ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "murder", "murderpw", "PLAIN"); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Reserve(ctx, "user.new", "be!p"))
	must(c.Activate(ctx, "user.new", "be!p", "new\tlr\t"))
	if err := c.Reserve(ctx, "user.new", "other!p"); err == nil {
		t.Fatal("conflicting RESERVE accepted")
	}
	c.Find(ctx, "user.new")
	c.Find(ctx, "user.none")
	c2, _ := mupdateclient.Dial(ctx, ln.Addr().String(), nil)
	defer c2.Close()
	must(c2.Authenticate(ctx, "murder", "murderpw", "PLAIN"))
	synced := make(chan struct{})
	go c2.Update(ctx, nil, func(ev mupdateclient.Event) error {
		if ev.Type == mupdateclient.EventSynced {
			close(synced)
		}
		return nil
	})
	<-synced
	must(c2.Noop(ctx))
	_, body := get(t, ts.URL+"/metrics", nil)
	for _, want := range []string{
		`murder_bridge_mupdate_commands_total{command="RESERVE",result="ok"} 1`,
		`murder_bridge_mupdate_commands_total{command="RESERVE",result="no"} 1`,
		`murder_bridge_mupdate_commands_total{command="ACTIVATE",result="ok"} 1`,
		`murder_bridge_mupdate_commands_total{command="FIND",result="found"} 1`,
		`murder_bridge_mupdate_commands_total{command="FIND",result="missing"} 1`,
		`murder_bridge_mupdate_commands_total{command="UPDATE",result="ok"} 1`,
		`murder_bridge_mupdate_commands_total{command="NOOP",result="ok"} 1`,
		`murder_bridge_mupdate_update_clients 1`,
		`murder_bridge_mupdate_command_duration_seconds_count{command="ACTIVATE"} 1`,
		`murder_bridge_follow_lag_seconds 1.5`,
		`murder_bridge_follow_connected 1`,
		`murder_bridge_follow_resyncs_total 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// a registry error is counted (the MUPDATE server and its UPDATE stream
	// are stopped first: they use the store)
	c.Close()
	c2.Close()
	ms.Close()
	st.Close()
	get(t, ts.URL+"/v1/mailboxes/user.alice", map[string]string{"Authorization": "Bearer " + token})
	_, body = get(t, ts.URL+"/metrics", nil)
	if !strings.Contains(body, `murder_bridge_registry_errors_total{op="get"} 1`) {
		t.Errorf("/metrics lacks the registry error:\n%s", grep(body, "murder_bridge_registry"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
