package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// FuzzAPI sends arbitrary requests to every endpoint. Invariants: no panic,
// never a 5xx (the registry is healthy), a JSON error body on every 4xx
// from the API, and the server keeps answering /healthz.
func FuzzAPI(f *testing.F) {
	for _, s := range [][4]string{
		{"GET", "/v1/mailboxes/user.alice", "", ""},
		{"GET", "/v1/mailboxes/example.com!user.jane%5Edoe", "", ""},
		{"GET", "/v1/visible?user=bob&group=staff", "", ""},
		{"POST", "/v1/slots", `{"Name":"s","State":"legacy","Locations":[{"Server":"be1"}]}`, "Bearer " + token},
		{"PUT", "/v1/slots/s", `{"Name":"s","State":"mirrored","Revision":1}`, "Bearer " + token},
		{"DELETE", "/v1/slots/s?revision=1", "", "Bearer " + token},
		{"GET", "/auth", "", ""},
		{"GET", "/readyz", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	st, err := leveldb.Open(context.Background(), f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	srv, err := httpapi.New(httpapi.Config{Store: st, Token: token, Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, target, body, auth string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest(method, "http://bridge"+target, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", auth)
		req.Header.Set("Auth-User", body)
		req.Header.Set("Auth-Protocol", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, target, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 && strings.HasPrefix(req.URL.Path, "/v1/") && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("%s %q: %d without a JSON error: %q", method, target, rec.Code, rec.Body.String())
		}
		rec = httptest.NewRecorder()
		hz := httptest.NewRequest("GET", "/healthz", nil)
		hz.RemoteAddr = "127.0.0.1:40001"
		h.ServeHTTP(rec, hz)
		if rec.Code != 200 {
			t.Fatalf("after %s %q: /healthz = %d", method, target, rec.Code)
		}
	})
}
