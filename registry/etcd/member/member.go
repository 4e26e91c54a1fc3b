package member

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Config describes one member.
type Config struct {
	// Name is the member name, unique in the cluster (e.g. the bridge's
	// servername).
	Name string
	// Dir holds the member's data (the WAL and the bbolt backend).
	Dir string
	// PeerURL and ClientURL are http://host:port URLs this member listens
	// on and advertises (loopback by default in tests: 127.0.0.x).
	PeerURL   string
	ClientURL string
	// InitialCluster is "name=peerURL,..." for every founding member; empty
	// means a single-member cluster of this member alone.
	InitialCluster string
	// Join adds the member to an existing cluster (initial-cluster-state
	// existing; the member must have been added with `etcdctl member add`).
	Join bool
	// Token is the initial-cluster-token (default "murderkit").
	Token string
	// MaxTxnOps is --max-txn-ops (default 1024; the registry's etcd URL
	// may then say ?maxtxnops=1024).
	MaxTxnOps uint
	// TickMs and ElectionMs are the heartbeat and election timeouts
	// (default 100 and 1000 ms, etcd's own).
	TickMs, ElectionMs uint
	// UnsafeNoFsync skips fsync (tests and benchmarks only).
	UnsafeNoFsync bool
	// LogLevel is etcd's log level (default "error").
	LogLevel string
	// SnapshotCount is --snapshot-count: raft entries applied between
	// two snapshots to disk (default DefaultSnapshotCount). On restart a
	// member replays up to this many WAL entries into memory.
	SnapshotCount uint64
	// CatchUpEntries is --snapshot-catchup-entries: raft entries kept in
	// memory for a slow follower after the log is compacted (default
	// DefaultCatchUpEntries). Each entry is a whole transaction, so under a
	// bulk import of 1,024-operation transactions every one of them is
	// ~100 KB: docs/scaling.md, "Where a member's memory goes".
	CatchUpEntries uint64
	// CompactionRetention is how many revisions of history the cluster
	// keeps (--auto-compaction-mode revision --auto-compaction-retention
	// N; default DefaultCompactionRetention; negative: never compact).
	// Every older revision of a changed or deleted key costs memory in
	// etcd's key index and a row in bbolt until compacted; a watch that
	// is further behind gets registry.ErrCompacted and starts over with a
	// full List.
	CompactionRetention int64
}

// Defaults of the member's memory settings (docs/scaling.md, "Where a
// member's memory goes"): etcd keeps the last CatchUpEntries raft entries
// in memory (its default 5,000), and replays up to SnapshotCount entries of
// WAL on restart (its default 10,000). Both are counted in transactions, not
// bytes; a bulk import's transactions are large: a member restarted after
// importing a million mailboxes in ~2,000 transactions held 102 MB of
// replayed WAL with a snapshot count of 10,000 (no snapshot had been
// written since the import began). History is compacted to the last
// DefaultCompactionRetention revisions (etcd's default: never).
const (
	DefaultSnapshotCount       = 1000
	DefaultCatchUpEntries      = 1000
	DefaultCompactionRetention = 100000
)

// Member is a running embedded member.
type Member struct {
	e   *embed.Etcd
	cfg Config
}

func parseURL(what, s string) (url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return url.URL{}, fmt.Errorf("member: %s %q: want http://host:port", what, s)
	}
	return *u, nil
}

// Start starts the member and waits until it has joined the cluster and
// serves clients (or ctx ends).
func Start(ctx context.Context, c Config) (*Member, error) {
	if c.Name == "" || c.Dir == "" {
		return nil, errors.New("member: Name and Dir are required")
	}
	pu, err := parseURL("PeerURL", c.PeerURL)
	if err != nil {
		return nil, err
	}
	cu, err := parseURL("ClientURL", c.ClientURL)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.Dir
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.InitialCluster = c.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = c.Name + "=" + c.PeerURL
	}
	cfg.ClusterState = embed.ClusterStateFlagNew
	if c.Join {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.InitialClusterToken = "murderkit"
	if c.Token != "" {
		cfg.InitialClusterToken = c.Token
	}
	cfg.MaxTxnOps = 1024
	if c.MaxTxnOps != 0 {
		cfg.MaxTxnOps = c.MaxTxnOps
	}
	cfg.MaxRequestBytes = 8 << 20
	if c.TickMs != 0 {
		cfg.TickMs = c.TickMs
	}
	if c.ElectionMs != 0 {
		cfg.ElectionMs = c.ElectionMs
	}
	cfg.UnsafeNoFsync = c.UnsafeNoFsync
	cfg.SnapshotCount = DefaultSnapshotCount
	if c.SnapshotCount != 0 {
		cfg.SnapshotCount = c.SnapshotCount
	}
	cfg.SnapshotCatchUpEntries = DefaultCatchUpEntries
	if c.CatchUpEntries != 0 {
		cfg.SnapshotCatchUpEntries = c.CatchUpEntries
	}
	switch r := c.CompactionRetention; {
	case r == 0:
		r = DefaultCompactionRetention
		fallthrough
	case r > 0:
		cfg.AutoCompactionMode = embed.CompactorModeRevision
		cfg.AutoCompactionRetention = strconv.FormatInt(r, 10)
	}
	cfg.LogLevel = "error"
	if c.LogLevel != "" {
		cfg.LogLevel = c.LogLevel
	}
	if cfg.LogLevel == "error" || cfg.LogLevel == "panic" || cfg.LogLevel == "fatal" {
		// etcd formats a whole transaction (every key and value) into a
		// string for its "request took too long" warnings before the logger
		// drops them; at these levels nobody sees them, and under a large
		// import that formatting was ~10% of the members' CPU.
		cfg.WarningUnaryRequestDuration = time.Hour
		cfg.WarningApplyDuration = time.Hour
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", c.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("member %s: %w", c.Name, err)
	case <-ctx.Done():
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("member %s: not ready: %w", c.Name, ctx.Err())
	}
	return &Member{e: e, cfg: c}, nil
}

// ClientURL returns the URL clients reach this member on.
func (m *Member) ClientURL() string { return m.cfg.ClientURL }

// RegistryURL returns the registry URL for the given members (this one
// first) and key prefix: etcd://host:port,.../prefix?maxtxnops=N.
func (m *Member) RegistryURL(prefix string, others ...string) string {
	hosts := []string{strings.TrimPrefix(m.cfg.ClientURL, "http://")}
	for _, o := range others {
		hosts = append(hosts, strings.TrimPrefix(o, "http://"))
	}
	ops := m.cfg.MaxTxnOps
	if ops == 0 {
		ops = 1024
	}
	return fmt.Sprintf("etcd://%s%s?maxtxnops=%d", strings.Join(hosts, ","), prefix, ops)
}

// Client returns a client of this member that calls it in process
// (etcd's v3client: no gRPC over TCP, no HTTP/2 framing); it sees the
// cluster as this member does. The caller closes it.
func (m *Member) Client() *clientv3.Client { return v3client.New(m.e.Server) }

// EtcdConfig returns the configuration the member was started with
// (etcd's embed.Config, defaults filled in).
func (m *Member) EtcdConfig() embed.Config { return m.e.Config() }

// MaxTxnOps returns the member's --max-txn-ops.
func (m *Member) MaxTxnOps() int {
	if m.cfg.MaxTxnOps == 0 {
		return 1024
	}
	return int(m.cfg.MaxTxnOps)
}

// Err reports a fatal error of the running member.
func (m *Member) Err() <-chan error { return m.e.Err() }

// Close stops the member (hard stop of the server first: a graceful stop
// would wait for open watch streams and hand leadership over).
func (m *Member) Close() error {
	done := make(chan struct{})
	go func() {
		m.e.Server.HardStop()
		m.e.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("member %s: did not stop within 15 s", m.cfg.Name)
	}
}
