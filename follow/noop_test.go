package follow_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/internal/eventually"
)

// A master that streams but never answers NOOP (hung, or a half-open
// connection) is dropped after NoopTimeout and reconnected to, as a Cyrus
// slave does ("connection to master timed out"); each reconnect resyncs
// from the full list, which counts as a completed round trip for the lag.
// The peer is scripted: only the timeout path is under test.
func TestUnansweredNoopReconnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				c.Write([]byte("* AUTH \"PLAIN\"\r\n* OK MUPDATE \"hung\" \"test\" \"0\" \"(master)\"\r\n"))
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch {
					case strings.HasPrefix(l, "A01 AUTHENTICATE"):
						if strings.Contains(l, "{") {
							r.ReadString('\n') // the literal's base64 line
						}
						c.Write([]byte("A01 OK \"Authenticated\"\r\n"))
					case strings.HasPrefix(l, "U01 UPDATE"):
						c.Write([]byte("U01 MAILBOX {10+}\r\nuser.alice {11+}\r\nbe1!default {9+}\r\nalice\tlr\t\r\nU01 OK \"streaming starts\"\r\n"))
					}
					// NOOPs are never answered
				}
			}()
		}
	}()
	st := openStore(t)
	f, err := follow.New(follow.Config{Addr: ln.Addr().String(), User: "murder", Password: "pw", Store: st, Logger: quiet(),
		NoopInterval: 100 * time.Millisecond, NoopTimeout: 300 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	fctx, stop := context.WithCancel(ctx)
	go func() { done <- f.Run(fctx) }()
	if !eventually.WaitTrue(10*time.Second, func() bool { return accepted.Load() >= 3 && f.Status().Resyncs >= 2 }) {
		t.Fatalf("follower did not reconnect after unanswered NOOPs: %+v", f.Status())
	}
	s := f.Status()
	if s.Reconnect < 2 || !strings.Contains(s.LastError, "NOOP") || s.Resyncs < 2 {
		t.Errorf("status = %+v, want reconnects after NOOP timeouts and a resync each time", s)
	}
	if s.Lag < 0 || s.Lag > 2*time.Second {
		t.Errorf("lag %v, want the age of the last resync", s.Lag)
	}
	if e, err := st.Get(ctx, "user.alice"); err != nil || e.Server != "be1" {
		t.Errorf("user.alice = %+v %v", e, err)
	}
	stop()
	<-done
}
