package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Writes go to the leader. A write sent to a follower is forwarded to the
// leader and answered only once the follower has applied it too; on three
// bridges each with its own member, the clients of the leader's bridge
// wrote 1.75x as fast as the others (docs/benchmarks.md, "etcd trio"). So
// the store keeps a second connection to the leader's client URL (found
// with Status and MemberList) for its write transactions; reads and
// watches stay on the configured endpoints. When the leader is unknown or
// a write through it fails, writes use the configured endpoints until the
// leader is found again; the leader is looked up again every few seconds.

// leaderRecheck is how often the leader is looked up again.
const leaderRecheck = 5 * time.Second

type leaderConn struct {
	mu      sync.Mutex
	cli     *clientv3.Client // nil: unknown; may be the store's own client
	url     string
	checked time.Time
	looking bool
}

// writer returns the client for write transactions.
func (s *Store) writer() *clientv3.Client {
	l := &s.lead
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.looking && time.Since(l.checked) > leaderRecheck {
		l.looking = true
		go s.findLeader()
	}
	if l.cli != nil {
		return l.cli
	}
	return s.cli
}

// findLeader looks the leader up and connects to it.
func (s *Store) findLeader() {
	l := &s.lead
	url := s.leaderURL()
	var c *clientv3.Client
	if url != "" && url != l.url {
		eps := s.cli.Endpoints()
		if len(eps) == 1 && eps[0] == url {
			c = s.cli
		} else if nc, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: s.o.DialTimeout, Logger: quietLogger()}); err == nil {
			c = nc
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.looking, l.checked = false, time.Now()
	select {
	case <-s.closed:
		if c != nil && c != s.cli {
			c.Close()
		}
		return
	default:
	}
	if c != nil {
		if l.cli != nil && l.cli != s.cli {
			old := l.cli
			time.AfterFunc(attemptTimeout, func() { old.Close() }) // after writes in flight on it
		}
		l.cli, l.url = c, url
	}
}

// leaderURL returns the leader's client URL, "" when it cannot be found.
func (s *Store) leaderURL() string {
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancel()
	var id uint64
	for _, ep := range s.cli.Endpoints() {
		if st, err := s.cli.Status(ctx, ep); err == nil && st.Leader != 0 {
			id = st.Leader
			break
		}
	}
	if id == 0 {
		return ""
	}
	ml, err := s.cli.MemberList(ctx)
	if err != nil {
		return ""
	}
	for _, m := range ml.Members {
		if m.ID == id && len(m.ClientURLs) > 0 {
			return m.ClientURLs[0]
		}
	}
	return ""
}

// writeFailed forgets the leader connection c after a write through it
// failed: the next writes use the configured endpoints.
func (s *Store) writeFailed(c *clientv3.Client) {
	l := &s.lead
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cli != c || c == s.cli {
		return
	}
	l.cli, l.url = nil, ""
	l.checked = time.Time{} // look again at the next write
	time.AfterFunc(attemptTimeout, func() { c.Close() })
}

// closeLeader closes the leader connection (Close).
func (s *Store) closeLeader() {
	l := &s.lead
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cli != nil && l.cli != s.cli {
		l.cli.Close()
	}
	l.cli = nil
}
