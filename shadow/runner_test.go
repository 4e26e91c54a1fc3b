package shadow_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrusimapd"
	"github.com/murderkit/murderkit/shadow"
)

// counting wraps a real Source and records the most calls in flight.
type counting struct {
	shadow.Source
	cur, max atomic.Int32
}

func (c *counting) List(ctx context.Context, u shadow.User) (*shadow.Listing, error) {
	n := c.cur.Add(1)
	for {
		m := c.max.Load()
		if n <= m || c.max.CompareAndSwap(m, n) {
			break
		}
	}
	defer c.cur.Add(-1)
	time.Sleep(50 * time.Millisecond) // keep calls overlapping
	return c.Source.List(ctx, u)
}

func TestRunnerConcurrencyRateResume(t *testing.T) {
	users := map[string]string{}
	var list []shadow.User
	for _, n := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		users[n] = n + "pw"
		list = append(list, shadow.User{Name: n, Password: n + "pw"})
	}
	s := cyrusimapd.Start(t, cyrusimapd.Options{Users: users})
	var cmds []string
	for n := range users {
		cmds = append(cmds, "CREATE user."+n)
	}
	s.Admin(t, cmds...)
	old := &counting{Source: imapSource(t, s)}
	r := &shadow.Runner{Old: old, New: imapSource(t, s), Concurrency: 2, Timeout: 10 * time.Second}
	var got []shadow.Result
	r.OnResult = func(res shadow.Result) { got = append(got, res) }
	sum, err := r.Run(context.Background(), list)
	if err != nil || sum.Equal != 6 || len(got) != 6 {
		t.Fatalf("Run = %+v, %v (%d results)", sum, err, len(got))
	}
	if m := old.max.Load(); m != 2 {
		t.Errorf("at most %d users were in flight, want exactly Concurrency=2", m)
	}
	// Rate 10/s: 6 users start over at least 0.5 s.
	r.Rate, r.Concurrency = 10, 6
	start := time.Now()
	if _, err := r.Run(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Errorf("6 users at 10/s took %v", el)
	}
	// Resume: users with a previous equal/different result are not run
	// again; a previous error is retried.
	old.max.Store(0)
	r.Rate = 0
	r.Previous = map[string]shadow.Result{}
	for _, res := range got {
		r.Previous[res.User] = res
	}
	r.Previous["u3"] = shadow.Result{User: "u3", Status: shadow.Failed, Error: "earlier"}
	got = nil
	sum, _ = r.Run(context.Background(), list)
	if sum.Resumed != 5 || sum.Equal != 6 || old.max.Load() != 1 {
		t.Errorf("resumed run: %+v, %d calls in flight at most, want 5 resumed and u3 compared again", sum, old.max.Load())
	}
}

// TestRunnerTimeoutRetries: a frontend that accepts connections but never
// greets. Each attempt ends at Timeout, the user is retried Retries times,
// and reported as an error.
func TestRunnerTimeoutRetries(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var conns []net.Conn
	accepted := 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			accepted++
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	u, _ := url.Parse("imap://" + l.Addr().String())
	src := &shadow.IMAPSource{URL: u}
	r := &shadow.Runner{Old: src, New: src, Timeout: 200 * time.Millisecond, Retries: 2, RetryBackoff: 10 * time.Millisecond}
	var res shadow.Result
	r.OnResult = func(x shadow.Result) { res = x }
	start := time.Now()
	sum, err := r.Run(context.Background(), []shadow.User{{Name: "a", Password: "b"}})
	el := time.Since(start)
	if err != nil || sum.Errors != 1 || res.Status != shadow.Failed || res.Attempts != 3 {
		t.Fatalf("Run = %+v, %v; result %+v", sum, err, res)
	}
	if el < 600*time.Millisecond || el > 10*time.Second {
		t.Errorf("3 attempts of 200ms took %v", el)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepted != 3 {
		t.Errorf("%d connections, want 3 (one per attempt)", accepted)
	}
	if !strings.Contains(res.Error, "old side") {
		t.Errorf("error does not name the side: %s", res.Error)
	}
}
