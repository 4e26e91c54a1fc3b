package mupdateserver_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// TestWriteLogLine: every write is one log line naming the user once (in
// JSON a repeated key makes the line ambiguous), the operation, the name,
// the location and the result.
func TestWriteLogLine(t *testing.T) {
	var buf murdertest.Buffer
	ts := startServer(t, func(c *mupdateserver.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	})
	r := dialRaw(t, ts.addr)
	r.login("murder", "murderpw")
	r.send("W1 RESERVE \"user.fred\" \"be1!default\"\r\n")
	if l := r.line(); !strings.HasPrefix(l, "W1 OK") {
		t.Fatalf("RESERVE: %q", l)
	}
	r.send("L1 LOGOUT\r\n")
	r.until("L1 OK")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.Contains(l, `"msg":"mupdate write"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("write log lines: %q; want one", lines)
	}
	if n := strings.Count(lines[0], `"user":`); n != 1 {
		t.Errorf("the write line names the user %d times: %s", n, lines[0])
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"user": "murder", "op": "RESERVE", "name": "user.fred", "location": "be1!default", "result": "OK"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %q (line %s)", k, got[k], want, lines[0])
		}
	}
}
