package etcdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	Dir       string

	mu   sync.Mutex
	bin  string
	args []string
	env  []string
	cmd  *exec.Cmd
	dead bool
	done chan struct{}
}

// Cluster is a running cluster.
type Cluster struct {
	Members []*Member
}

// Options tune the cluster.
type Options struct {
	// MaxTxnOps is passed as --max-txn-ops (default 1024; negative: the
	// flag is not passed, so ETCD_MAX_TXN_OPS in Env or etcd's 128 holds).
	MaxTxnOps int
	// FirstIP is the last octet of the first member's 127.0.0.x address
	// (default 21); member i uses FirstIP+i.
	FirstIP int
	// Dir holds the members' data (default t.TempDir()).
	Dir string
	// SnapshotCount is passed as --snapshot-count when not 0 (etcd 3.4's
	// default is 100,000 raft entries, all kept in memory between
	// snapshots).
	SnapshotCount int
	// Env is added to the members' environment (e.g. GOGC=50).
	Env []string
	// Args are added to every member's command line (e.g.
	// --enable-pprof for a benchmark's heap profiles).
	Args []string
}

// Binary finds the etcd server binary.
func Binary() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	return "", fmt.Errorf("etcd server binary not found: install Debian's etcd-server (make deps)")
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts an n-member cluster and waits until every member answers.
// The members are killed when the test ends.
func Start(t testing.TB, n int, o *Options) *Cluster {
	t.Helper()
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	c, err := StartCluster(n, &opts)
	if c != nil {
		t.Cleanup(c.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// StartCluster is Start for programs (benchmarks): opts.Dir is required and
// the caller stops the cluster.
func StartCluster(n int, o *Options) (*Cluster, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.MaxTxnOps == 0 {
		opts.MaxTxnOps = 1024
	}
	if opts.FirstIP == 0 {
		opts.FirstIP = 21
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("etcdtest: no data directory")
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", opts.FirstIP+i)
		cp, err := freePort(ip)
		if err != nil {
			return nil, fmt.Errorf("etcdtest: no port on %s: %v", ip, err)
		}
		pp, err := freePort(ip)
		if err != nil {
			return nil, fmt.Errorf("etcdtest: no port on %s: %v", ip, err)
		}
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://%s:%d", ip, cp),
			PeerURL:   fmt.Sprintf("http://%s:%d", ip, pp),
			Dir:       filepath.Join(opts.Dir, fmt.Sprintf("m%d", i)),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	token := fmt.Sprintf("etcdtest-%d", time.Now().UnixNano())
	for _, m := range c.Members {
		args := []string{
			"--name", m.Name, "--data-dir", m.Dir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--heartbeat-interval", "50", "--election-timeout", "500",
			"--max-request-bytes", fmt.Sprint(8 << 20),
			"--quota-backend-bytes", fmt.Sprint(int64(8) << 30),
			"--logger", "zap", "--log-level", "error",
		}
		if opts.MaxTxnOps > 0 {
			args = append(args, "--max-txn-ops", fmt.Sprint(opts.MaxTxnOps))
		}
		if opts.SnapshotCount != 0 {
			args = append(args, "--snapshot-count", fmt.Sprint(opts.SnapshotCount))
		}
		args = append(args, opts.Args...)
		m.bin, m.args, m.env = bin, args, opts.Env
		if err := m.start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		return c, fmt.Errorf("etcdtest: cluster not healthy: %v", err)
	}
	return c, nil
}

func (m *Member) start() error {
	m.cmd = exec.Command(m.bin, m.args...)
	if len(m.env) > 0 {
		m.cmd.Env = append(os.Environ(), m.env...)
	}
	if os.Getenv("ETCDTEST_VERBOSE") != "" {
		m.cmd.Stdout, m.cmd.Stderr = os.Stderr, os.Stderr
	}
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("etcdtest: start %s: %v", m.bin, err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(m.cmd, m.done)
	return nil
}

// Restart kills member i (if alive) and starts it again on its data
// directory; it does not wait for the member to be healthy (WaitHealthy).
func (c *Cluster) Restart(i int) error {
	m := c.Members[i]
	if !m.Dead() {
		c.Kill(i)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.start(); err != nil {
		return err
	}
	m.dead = false
	return nil
}

// SetEnv replaces what member i adds to its environment from its next
// (re)start on (a benchmark restarts members with other Go settings).
func (c *Cluster) SetEnv(i int, env []string) {
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	m.env = env
}

// Pid returns the process id of member i.
func (c *Cluster) Pid(i int) int { return c.Members[i].cmd.Process.Pid }

// Endpoints returns the client URLs of the members not killed.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		if !m.Dead() {
			out = append(out, m.ClientURL)
		}
	}
	return out
}

// URL returns the registry URL (etcd://h:p,h:p/prefix) of every member,
// including killed ones (clients must cope).
func (c *Cluster) URL(prefix string, query string) string {
	var hosts []string
	for _, m := range c.Members {
		hosts = append(hosts, strings.TrimPrefix(m.ClientURL, "http://"))
	}
	u := "etcd://" + strings.Join(hosts, ",") + prefix
	if query != "" {
		u += "?" + query
	}
	return u
}

// PID is the member's process id (0 before it started).
func (m *Member) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Dead reports whether the member was killed.
func (m *Member) Dead() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dead
}

// Kill sends SIGKILL to member i and waits for it to die.
func (c *Cluster) Kill(i int) {
	m := c.Members[i]
	m.mu.Lock()
	m.dead = true
	m.mu.Unlock()
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
}

// Stop kills every member.
func (c *Cluster) Stop() {
	for i, m := range c.Members {
		if m.cmd != nil && m.cmd.Process != nil && m.done != nil && !m.Dead() {
			c.Kill(i)
		}
	}
}

func client(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
}

// WaitHealthy waits until every live member reports a leader.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var last error
	for {
		ok := true
		for _, m := range c.Members {
			if m.Dead() {
				continue
			}
			st, _, err := MemberStatus(ctx, m.ClientURL)
			if err != nil || st == 0 {
				ok, last = false, fmt.Errorf("member %s: leader %d, %v", m.Name, st, err)
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// MemberStatus asks the member at url which member leads: the leader's ID
// (0 while there is none) and the member's own ID.
func MemberStatus(ctx context.Context, url string) (leader, self uint64, err error) {
	cli, err := client([]string{url})
	if err != nil {
		return 0, 0, err
	}
	defer cli.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := cli.Status(cctx, url)
	if err != nil {
		return 0, 0, err
	}
	return st.Leader, st.Header.MemberId, nil
}

// LeaderOf returns the index of the client URL whose member leads.
func LeaderOf(ctx context.Context, urls []string) (int, error) {
	var errs []string
	for i, u := range urls {
		leader, self, err := MemberStatus(ctx, u)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", u, err))
			continue
		}
		if leader != 0 && leader == self {
			return i, nil
		}
	}
	if len(errs) > 0 {
		return -1, fmt.Errorf("etcdtest: no member of %v is the leader (%s)", urls, strings.Join(errs, "; "))
	}
	return -1, fmt.Errorf("etcdtest: no member of %v is the leader", urls)
}

// Leader returns the index of the current leader among live members.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	var urls []string
	var idx []int
	for i, m := range c.Members {
		if !m.Dead() {
			urls, idx = append(urls, m.ClientURL), append(idx, i)
		}
	}
	j, err := LeaderOf(ctx, urls)
	if err != nil {
		return -1, err
	}
	return idx[j], nil
}
