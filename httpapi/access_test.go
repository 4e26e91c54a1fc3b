package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// serveFrom runs one request through h as if it came from addr.
func serveFrom(h http.Handler, method, target, addr, auth string) (int, string) {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = addr
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// Every registry read (entries with their ACLs, visible lists, slots,
// status) needs the bearer token, from loopback too; with no token
// configured they are refused outright.
func TestReadsNeedToken(t *testing.T) {
	st, _, ts := setup(t, nil)
	ctx := context.Background()
	if _, err := st.CreateSlot(ctx, registry.Slot{Name: "s1", State: registry.SlotLegacy, Locations: []registry.Location{{Server: "be1"}}}); err != nil {
		t.Fatal(err)
	}
	reads := []string{"/v1/status", "/v1/mailboxes/user.alice", "/v1/mailboxes/user.gone", "/v1/visible?user=bob", "/v1/slots", "/v1/slots/s1"}
	for _, p := range reads {
		if code, b := do(t, "GET", ts.URL+p, "", ""); code != 401 || !strings.Contains(b, "Bearer") || strings.Contains(b, "alice") && p != "/v1/mailboxes/user.alice" {
			t.Errorf("GET %s without the token = %d %s, want 401", p, code, b)
		}
		if code, _ := do(t, "GET", ts.URL+p, "Bearer wrong-"+token, ""); code != 401 {
			t.Errorf("GET %s with a wrong token = %d, want 401", p, code)
		}
		if code, b := do(t, "GET", ts.URL+p, "Bearer "+token, ""); code != 200 && !(p == "/v1/mailboxes/user.gone" && code == 404) {
			t.Errorf("GET %s with the token = %d %s", p, code, b)
		}
	}
	// The answer without the token leaks nothing of the entry.
	if _, b := do(t, "GET", ts.URL+"/v1/mailboxes/user.alice", "", ""); strings.Contains(b, "lrswipkxtecdan") || strings.Contains(b, "11143") {
		t.Errorf("the refusal leaks the entry: %s", b)
	}
	st2, err := leveldb.Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	srv, _ := httpapi.New(httpapi.Config{Store: st2, Logger: quiet()})
	for _, p := range reads {
		if code, b := serveFrom(srv.Handler(), "GET", p, "127.0.0.1:5000", "Bearer "+token); code != 403 || !strings.Contains(b, "--http-token-file") {
			t.Errorf("no token configured: GET %s = %d %s, want 403", p, code, b)
		}
	}
}

// /healthz, /readyz, /metrics and /auth are open without the token to the
// configured client networks (default loopback) and to anyone with it.
func TestOpenEndpointsByAddress(t *testing.T) {
	st, err := leveldb.Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	def, _ := httpapi.New(httpapi.Config{Store: st, Token: token, Logger: quiet()})
	nets, err := httpapi.ParseOpenFrom("10.0.0.0/8, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	wide, _ := httpapi.New(httpapi.Config{Store: st, Token: token, Logger: quiet(), HealthFrom: nets, MetricsFrom: nets, AuthFrom: []netip.Prefix{}})
	auth := "/auth"
	for _, c := range []struct {
		srv        *httpapi.Server
		path, addr string
		tok        bool
		want       int
	}{
		{def, "/healthz", "127.0.0.1:1", false, 200},
		{def, "/healthz", "[::1]:1", false, 200},
		{def, "/readyz", "127.0.0.9:1", false, 200},
		{def, "/metrics", "127.0.0.1:1", false, 200},
		{def, "/healthz", "10.1.2.3:1", false, 403},
		{def, "/readyz", "10.1.2.3:1", false, 403},
		{def, "/metrics", "[2001:db8::1]:1", false, 403},
		{def, auth, "10.1.2.3:1", false, 403},
		{def, "/healthz", "10.1.2.3:1", true, 200},
		{def, "/metrics", "10.1.2.3:1", true, 200},
		{wide, "/healthz", "10.1.2.3:1", false, 200},
		{wide, "/metrics", "192.0.2.7:1", false, 200},
		{wide, "/metrics", "192.0.2.8:1", false, 403},
		{wide, "/healthz", "127.0.0.1:1", false, 403}, // the list replaces the default
		{wide, auth, "127.0.0.1:1", false, 403},       // "none"
		{wide, "/v1/slots", "10.1.2.3:1", false, 401}, // the API is never opened by address
	} {
		a := ""
		if c.tok {
			a = "Bearer " + token
		}
		code, b := serveFrom(c.srv.Handler(), "GET", c.path, c.addr, a)
		if c.path == auth && code == 400 {
			code = 200 // served (no Auth-* headers: a bad auth_http request)
		}
		if code != c.want {
			t.Errorf("GET %s from %s (token %v) = %d %s, want %d", c.path, c.addr, c.tok, code, b, c.want)
		}
	}
	if p, err := httpapi.ParseOpenFrom("none"); err != nil || len(p) != 0 {
		t.Errorf("ParseOpenFrom(none) = %v %v", p, err)
	}
	if _, err := httpapi.ParseOpenFrom("10.0.0.0/33"); err == nil {
		t.Errorf("ParseOpenFrom accepted a bad CIDR")
	}
}

// Slot creation refuses forged history, a state a new slot cannot be in, a
// revision, and names and locations Cyrus setups cannot have; an update
// keeps the history and appends the one transition it makes.
func TestSlotWritesValidated(t *testing.T) {
	_, _, ts := setup(t, nil)
	auth := "Bearer " + token
	bad := []struct{ why, body string }{
		{"forged history", `{"Name":"s","State":"legacy","History":[{"From":"","To":"legacy"},{"From":"legacy","To":"mirrored"}]}`},
		{"history from a state", `{"Name":"s","State":"mirrored","History":[{"From":"shadow-clean","To":"mirrored"}]}`},
		{"history to another state", `{"Name":"s","State":"mirrored","History":[{"From":"","To":"legacy"}]}`},
		{"starts cut over", `{"Name":"s","State":"cutover"}`},
		{"starts retired", `{"Name":"s","State":"retired"}`},
		{"starts shadow-clean", `{"Name":"s","State":"shadow-clean"}`},
		{"a revision", `{"Name":"s","State":"legacy","Revision":7}`},
		{"a 256-byte name", `{"Name":"` + strings.Repeat("n", 256) + `","State":"legacy"}`},
		{"a 1 MB name", `{"Name":"` + strings.Repeat("n", 1<<20) + `","State":"legacy"}`},
		{"invalid UTF-8 name", "{\"Name\":\"s\xff\xfe\",\"State\":\"legacy\"}"},
		{"escaped lone surrogate", `{"Name":"s\udcff","State":"legacy"}`},
		{"control character", `{"Name":"s\u0007","State":"legacy"}`},
		{"newline", `{"Name":"s\n1","State":"legacy"}`},
		{"slash", `{"Name":"a/b","State":"legacy"}`},
		{"server with a space", `{"Name":"s","State":"legacy","Locations":[{"Server":"be 1"}]}`},
		{"server with '!'", `{"Name":"s","State":"legacy","Locations":[{"Server":"be1!x"}]}`},
		{"server with a bad port", `{"Name":"s","State":"legacy","Locations":[{"Server":"be1:http"}]}`},
		{"empty server", `{"Name":"s","State":"legacy","Locations":[{"Server":"","Partition":"p"}]}`},
		{"server of 300 bytes", `{"Name":"s","State":"legacy","Locations":[{"Server":"` + strings.Repeat("b", 300) + `"}]}`},
		{"partition of 65 bytes", `{"Name":"s","State":"legacy","Locations":[{"Server":"be1","Partition":"` + strings.Repeat("p", 65) + `"}]}`},
		{"partition with '!'", `{"Name":"s","State":"legacy","Locations":[{"Server":"be1","Partition":"a!b"}]}`},
		{"partition not ASCII", `{"Name":"s","State":"legacy","Locations":[{"Server":"be1","Partition":"pä"}]}`},
		{"note of 2000 bytes", `{"Name":"s","State":"legacy","History":[{"To":"legacy","Note":"` + strings.Repeat("x", 2000) + `"}]}`},
	}
	for _, c := range bad {
		if code, b := do(t, "POST", ts.URL+"/v1/slots", auth, c.body); code != 400 || !strings.Contains(b, `"error"`) {
			t.Errorf("create with %s = %d %.200s, want 400", c.why, code, b)
		}
	}
	if code, b := do(t, "GET", ts.URL+"/v1/slots", auth, ""); code != 200 || strings.TrimSpace(b) != "[]" {
		t.Fatalf("after the refused creates: slots = %d %s, want none", code, b)
	}
	// Good creates, as `slot define` sends them; the definition's time is
	// the server's.
	for _, body := range []string{
		`{"Name":"be1","State":"mirrored","Locations":[{"Server":"be1.example.com"},{"Server":"10.0.0.5:2004","Partition":"default"}],"History":[{"To":"mirrored","Time":"1999-01-01T00:00:00Z","By":"op","Note":"defined"}]}`,
		`{"Name":"Zürich slot","State":"legacy","Locations":[{"Server":"[2001:db8::5]:143","Partition":"p_2.x-y"}]}`,
	} {
		if code, b := do(t, "POST", ts.URL+"/v1/slots", auth, body); code != 201 {
			t.Fatalf("create %s = %d %s", body, code, b)
		}
	}
	c, _ := httpapi.NewClient(ts.URL, token)
	ctx := context.Background()
	s, err := c.GetSlot(ctx, "be1")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.History) != 1 || s.History[0].Time.Year() < 2020 {
		t.Errorf("definition history = %+v, want the server's time", s.History)
	}
	put := func(sl registry.Slot) (int, string) {
		b, _ := json.Marshal(sl)
		return do(t, "PUT", ts.URL+"/v1/slots/be1", auth, string(b))
	}
	forged := s
	forged.History = append([]registry.SlotTransition{{To: registry.SlotLegacy, Note: "invented"}}, s.History...)
	forged.State = registry.SlotShadowClean
	forged.History = append(forged.History, registry.SlotTransition{From: registry.SlotMirrored, To: registry.SlotShadowClean})
	rewritten := s
	rewritten.History = []registry.SlotTransition{{To: registry.SlotMirrored, Note: "other"}, {From: registry.SlotMirrored, To: registry.SlotShadowClean}}
	rewritten.State = registry.SlotShadowClean
	silent := s
	silent.State = registry.SlotCutover
	moved := s
	moved.Locations = []registry.Location{{Server: "elsewhere"}}
	if err := moved.Transition(registry.SlotShadowClean, "op", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	for name, sl := range map[string]registry.Slot{"inserted history": forged, "rewritten history": rewritten, "state change without history": silent, "moved locations": moved} {
		if code, b := put(sl); code != 400 {
			t.Errorf("update with %s = %d %s, want 400", name, code, b)
		}
	}
	good := s
	if err := good.Transition(registry.SlotShadowClean, "op", "clean", time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, b := put(good); code != 200 {
		t.Fatalf("a proper transition = %d %s", code, b)
	}
	if code, _ := put(good); code != 409 {
		t.Errorf("the same update again (stale revision) = %d, want 409", code)
	}
	// `slot edit`: new locations, a shadow-clean slot back to mirrored.
	s2, err := c.GetSlot(ctx, "be1")
	if err != nil {
		t.Fatal(err)
	}
	keep := s2
	keep.Locations = []registry.Location{{Server: "be9.example.com"}}
	keep.History = append(append([]registry.SlotTransition{}, s2.History...), registry.SlotTransition{From: registry.SlotShadowClean, To: registry.SlotShadowClean, Note: "locations"})
	if code, b := put(keep); code != 400 {
		t.Errorf("new locations keeping shadow-clean = %d %s, want 400", code, b)
	}
	same := s2
	same.History = append(append([]registry.SlotTransition{}, s2.History...), registry.SlotTransition{From: registry.SlotShadowClean, To: registry.SlotShadowClean})
	if code, b := put(same); code != 400 {
		t.Errorf("an update that changes nothing = %d %s, want 400", code, b)
	}
	edit := s2
	edit.Locations = []registry.Location{{Server: "be9.example.com"}}
	edit.State = registry.SlotMirrored
	edit.History = append(append([]registry.SlotTransition{}, s2.History...), registry.SlotTransition{From: registry.SlotShadowClean, To: registry.SlotMirrored, Note: "locations be1 -> be9"})
	if code, b := put(edit); code != 200 {
		t.Errorf("slot edit (new locations, back to mirrored) = %d %s, want 200", code, b)
	}
}
