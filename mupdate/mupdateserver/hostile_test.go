package mupdateserver_test

import (
	"testing"
	"time"
)

// TestReplyNotHeldByPartialCommand: a reply is flushed even when part of
// the next command is already buffered (Cyrus flushes its output before
// every read; a real 3.6.1 master answers `N1 NOOP\r\nabc` at once).
func TestReplyNotHeldByPartialCommand(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct{ name, input, want, rest, then string }{
		{"noop then partial", "N1 NOOP\r\nabc", "N1 OK \"Noop done\"\r\n", "\r\n", "* BAD \"Need command\"\r\n"},
		{"find then partial literal", "F1 FIND \"user.x\"\r\nF2 FIND {6+}\r\nus", "F1 OK \"Search completed\"\r\n", "er.x\r\n", "F2 OK \"Search completed\"\r\n"},
		{"bad then partial", "B1 BOGUS\r\nN2 NO", "B1 BAD \"Unrecognized command\"\r\n", "OP\r\n", "N2 OK \"Noop done\"\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, ts.addr)
			c.login("admin", "adminpw")
			c.send(tc.input)
			c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			l, err := c.br.ReadString('\n')
			if err != nil || l != tc.want {
				t.Fatalf("after %q: got %q (%v), want %q at once", tc.input, l, err, tc.want)
			}
			// The rest of the command still works once it is complete.
			c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			c.send(tc.rest)
			if l := c.line(); l != tc.then {
				t.Fatalf("after %q: got %q, want %q", tc.rest, l, tc.then)
			}
		})
	}
}
