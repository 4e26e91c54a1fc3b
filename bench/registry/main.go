// Command registry benchmarks the registry backends: import of N synthetic
// entries (entries/s, disk, memory) and Visible latency (p50/p99) for users
// who see 10, 100 and 1,000 mailboxes, measured at 100,000 and at N entries.
//
//	go run ./bench/registry -backend leveldb -n 1000000
//	go run ./bench/registry -backend etcd -n 1000000     # 3 Debian etcd members on 127.0.0.51-53
//
// The synthetic registry looks like a university's: users with a handful of
// folders each (owner rights plus one group grant, so three reverse-ACL index
// rows per entry in leveldb; etcd stores only the group's, the other two
// being read from the entries, docs/registry.md), plus three probe users vis10, vis100, vis1000 who own
// half of what they see and are granted the other half on other users'
// folders. Results go to stdout as Markdown table rows; bench/registry.sh
// runs both backends.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/internal/bytesize"
	"github.com/murderkit/murderkit/internal/memlimit"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	"github.com/murderkit/murderkit/registry/etcd/member"
	"github.com/murderkit/murderkit/registry/leveldb"
)

var (
	backend  = flag.String("backend", "leveldb", "leveldb or etcd")
	n        = flag.Int("n", 1000000, "entries to import")
	dir      = flag.String("dir", "", "work directory (default a temporary one, removed afterwards)")
	batch    = flag.Int("batch", 10000, "entries per Import call")
	samples  = flag.Int("samples", 2000, "Visible calls per probe user")
	workers  = flag.Int("workers", 4, "etcd: concurrent import transactions")
	txnOps   = flag.Int("maxtxnops", 1024, "etcd: --max-txn-ops of the cluster and the client")
	txnBytes = flag.Int("txnbytes", 0, "etcd: bytes of keys and values per import transaction (0: the store's default, 16 KiB)")
	settle   = flag.Bool("settle", true, "leveldb: compact before measuring Visible (the import's compaction excluded from import time)")
	cpuprof  = flag.String("cpuprofile", "", "write a CPU profile")
	nosync   = flag.Bool("nosync", false, "leveldb: no fsync (shows what the disk costs)")
	embedded = flag.Bool("embedded", false, "etcd: three embedded etcd v3.7.3 members (registry/etcd/member) in this process on 127.0.0.141-143, instead of Debian's etcd-server processes")
	checkAt  = flag.Int("check-at", 100000, "also measure Visible when this many entries are in")
	members  = flag.Int("members", 3, "etcd: members of the cluster")
	snapN    = flag.Int("snapshot-count", 0, "etcd: --snapshot-count of the members (0: member.DefaultSnapshotCount embedded, etcd's own 100000 for Debian's 3.4)")
	catchUp  = flag.Int("catchup-entries", 0, "etcd -embedded: --snapshot-catchup-entries (0: member.DefaultCatchUpEntries)")
	gogc     = flag.Int("gogc", 0, "etcd: GOGC of the members (0: Go's default 100)")
	memLimit = flag.String("gomemlimit", "", "etcd: GOMEMLIMIT of the members (Go's soft memory limit, e.g. 600MiB; -embedded: of this process, where \"auto\" keeps it 4/3 above the live heap as murder-bridge serve's default does, internal/memlimit)")
	rsLimit  = flag.String("restart-gomemlimit", "", "etcd -restart: GOMEMLIMIT the members are restarted with (the import runs without one; a size: Debian's members are other processes, so not auto)")
	settleAt = flag.Duration("reopen-wait", 0, "etcd -reopen: after the full read, wait this long and report the memory again (what a member holds once idle)")
	heapProf = flag.String("heapprofile", "", "etcd -embedded: write a heap profile (after a GC) when the import is done")
	memDump  = flag.String("memdump", "", "etcd: write each member's memory breakdown into this directory after the import (and after the restart): /proc/PID/smaps_rollup, the Go runtime's memstats from /metrics, and a heap profile (Debian members run with --enable-pprof)")
	reopen   = flag.Bool("reopen", false, "etcd -embedded with -dir: start the members on the data a previous run left in -dir (no import), read everything once, and report their memory")
	restart  = flag.Bool("restart", false, "etcd (Debian): restart every member after the import and report its RSS once it serves a full List again")
	folders  = []string{"Sent", "Drafts", "Trash", "Archive", "Junk", "Lists", "Work", "Family", "Travel"}
	allRight = "lrswipkxtecdan"
)

func main() {
	flag.Parse()
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// gen yields the synthetic entries in Cyrus order per user.
type gen struct {
	i, user int
	probe   map[string]int // owner -> probe user index whose grants they carry
}

func (g *gen) entry(i int) registry.Entry {
	// 10 mailboxes per user: INBOX + 9 folders.
	// (strconv rather than fmt: the generator should cost little next to
	// what is measured; the strings are those of "u%07d", "be%d",
	// "%016x-%d", "group:g%d".)
	u := i / 10
	k := i % 10
	e := registry.Entry{}
	owner := pad("u", strconv.Itoa(u), 7)
	name := "user." + owner
	if k > 0 {
		name += "." + folders[k-1]
	}
	e.Name = name
	e.Server = servers[u%8]
	e.Partition = "default"
	e.UniqueID = pad("", strconv.FormatInt(int64(u), 16), 16) + "-" + strconv.Itoa(k)
	e.UIDValidity = uint32(1600000000 + i)
	e.CreatedModseq, e.FolderModseq, e.Mtime = 1, uint64(i%97+1), 1795319039
	e.ACL = mboxlist.ACL{{ID: owner, Rights: allRight}, {ID: "group:g" + strconv.Itoa(u%1000), Rights: "lrs"}}
	return e
}

var servers = []string{"be0", "be1", "be2", "be3", "be4", "be5", "be6", "be7"}

// pad returns prefix + digits left-padded with zeros to width.
func pad(prefix, digits string, width int) string {
	if len(digits) >= width {
		return prefix + digits
	}
	return prefix + "0000000000000000"[:width-len(digits)] + digits
}

// probes: user visK owns K/2 mailboxes and is granted `lr` on K/2 INBOXes of
// ordinary users spread over the registry.
func probeEntries(k, total int) []registry.Entry {
	var out []registry.Entry
	owner := fmt.Sprintf("vis%d", k)
	for j := range k / 2 {
		e := registry.Entry{}
		e.Name = fmt.Sprintf("user.%s.f%04d", owner, j)
		if j == 0 {
			e.Name = "user." + owner
		}
		e.Server, e.Partition = "be0", "default"
		e.ACL = mboxlist.ACL{{ID: owner, Rights: allRight}}
		out = append(out, e)
	}
	return out
}

// grantOn returns, for entry index i, the probe users granted on it.
func grantOn(i, total int) []string {
	if i%10 != 0 {
		return nil
	}
	u := i / 10
	users := min(total, *checkAt) / 10 // every grant within the first check-at entries: same answers at both sizes
	var out []string
	for _, k := range []int{10, 100, 1000} {
		step := max(1, users/(k/2))
		if u%step == 0 && u/step < k/2 {
			out = append(out, fmt.Sprintf("vis%d", k))
		}
	}
	return out
}

type result struct {
	backend          string
	entries          int
	importSec        float64
	rate             float64
	diskBytes        int64
	memBytes         uint64
	selfRSS          string
	extra            string
	visible          map[int][2]time.Duration // K -> p50, p99
	visibleAtCheck   map[int][2]time.Duration
	visibleCountsOK  bool
	visibleCountsMsg string
}

func run() error {
	ctx := context.Background()
	if err := checkLimitFlags(); err != nil {
		return err
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "murderkit-registry-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	if *build {
		if *backend != "leveldb" {
			return fmt.Errorf("-build is for -backend leveldb")
		}
		return runBuild(ctx, work)
	}
	var s registry.Store
	var cluster *etcdtest.Cluster
	var diskDir string
	switch *backend {
	case "leveldb":
		diskDir = filepath.Join(work, "reg")
		st, err := leveldb.Open(ctx, diskDir, &leveldb.Options{NoSync: *nosync})
		if err != nil {
			return err
		}
		s = st
	case "etcd":
		if *embedded {
			eps, stop, err := startEmbedded(ctx, filepath.Join(work, "etcd"), *txnOps)
			if err != nil {
				return err
			}
			defer stop()
			diskDir = filepath.Join(work, "etcd", "m0")
			st, err := etcd.Open(ctx, eps, &etcd.Options{Prefix: "/bench", MaxTxnOps: *txnOps, ImportWorkers: *workers, ImportTxnBytes: *txnBytes})
			if err != nil {
				return err
			}
			s = st
			if *reopen {
				defer s.Close()
				return reopenReport(ctx, s)
			}
			break
		}
		var env []string
		if *gogc != 0 {
			env = append(env, fmt.Sprintf("GOGC=%d", *gogc))
		}
		if *memLimit != "" {
			env = append(env, "GOMEMLIMIT="+*memLimit)
		}
		var args []string
		if *memDump != "" {
			args = append(args, "--enable-pprof")
		}
		c, err := etcdtest.StartCluster(*members, &etcdtest.Options{Dir: filepath.Join(work, "etcd"), FirstIP: 51, MaxTxnOps: *txnOps, SnapshotCount: *snapN, Env: env, Args: args})
		if err != nil {
			if c != nil {
				c.Stop()
			}
			return err
		}
		cluster = c
		defer c.Stop()
		diskDir = filepath.Join(work, "etcd", "m0")
		st, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: "/bench", MaxTxnOps: *txnOps, ImportWorkers: *workers, ImportTxnBytes: *txnBytes})
		if err != nil {
			return err
		}
		s = st
	default:
		return fmt.Errorf("unknown backend %q", *backend)
	}
	defer s.Close()

	res := result{backend: *backend, entries: *n}
	g := &gen{}
	start := time.Now()
	var importDur time.Duration
	// Probe users' own mailboxes first (they are part of the count).
	var probes []registry.Entry
	for _, k := range []int{10, 100, 1000} {
		probes = append(probes, probeEntries(k, *n)...)
	}
	if _, err := s.Import(ctx, probes); err != nil {
		return err
	}
	done := len(probes)
	buf := make([]registry.Entry, 0, *batch)
	lastReport := time.Now()
	for i := 0; done < *n; i++ {
		e := g.entry(i)
		for _, p := range grantOn(i, *n) {
			e.ACL = append(e.ACL, mboxlist.ACLItem{ID: p, Rights: "lr"})
		}
		buf = append(buf, e)
		// Batches end exactly at check-at so the first measurement is there.
		if len(buf) == *batch || done+len(buf) == *n || done+len(buf) == *checkAt {
			if _, err := s.Import(ctx, buf); err != nil {
				return fmt.Errorf("import at %d: %w", done, err)
			}
			done += len(buf)
			buf = buf[:0]
			if time.Since(lastReport) > 10*time.Second {
				fmt.Fprintf(os.Stderr, "bench: %d entries, %.0f/s\n", done, float64(done)/time.Since(start).Seconds())
				lastReport = time.Now()
			}
			if done >= *checkAt && *checkAt < *n && res.visibleAtCheck == nil {
				importDur += time.Since(start)
				v, msg, err := measureVisible(ctx, s)
				if err != nil {
					return err
				}
				res.visibleAtCheck = v
				fmt.Fprintf(os.Stderr, "bench: at %d entries: %s\n", done, msg)
				start = time.Now()
			}
		}
	}
	importDur += time.Since(start)
	res.importSec = importDur.Seconds()
	res.rate = float64(*n) / res.importSec
	cnt, err := again(func() (int, error) { return s.Count(ctx, "") })
	if err != nil {
		return err
	}
	if cnt != *n {
		return fmt.Errorf("registry holds %d entries, imported %d", cnt, *n)
	}
	v, msg, err := measureVisible(ctx, s)
	if err != nil {
		return err
	}
	res.visible = v
	fmt.Fprintf(os.Stderr, "bench: at %d entries: %s\n", *n, msg)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.memBytes = ms.Sys
	res.selfRSS = peakRSS(os.Getpid())
	if *heapProf != "" {
		runtime.GC()
		f, err := os.Create(*heapProf)
		if err != nil {
			return err
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			return err
		}
		f.Close()
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(os.Stderr, "bench: after GC: heap in use %s, Go runtime %s; process %s\n", human(int64(ms.HeapInuse)), human(int64(ms.Sys)), memLine(os.Getpid()))
	}
	if *backend == "etcd" {
		var st *clientv3.StatusResponse
		var mems []string
		if cluster != nil {
			for i := range cluster.Members {
				mems = append(mems, fmt.Sprintf("m%d %s", i, memLine(cluster.Pid(i))))
			}
			st, err = s.(*etcd.Store).Client().Status(ctx, cluster.Members[0].ClientURL)
		} else {
			mems = append(mems, fmt.Sprintf("bench process with %d embedded members: %s, %s", *members, memLine(os.Getpid()), limitLine()))
			st, err = s.(*etcd.Store).Client().Status(ctx, s.(*etcd.Store).Client().Endpoints()[0])
		}
		if err == nil {
			res.extra = fmt.Sprintf("etcd db %d B (%.0f B/entry, in use %d B); members: %s",
				st.DbSize, float64(st.DbSize)/float64(*n), st.DbSizeInUse, strings.Join(mems, "; "))
		}
		fmt.Fprintf(os.Stderr, "bench: load %s; %s\n", loadavg(), res.extra)
		if err := dumpMembers("import", cluster); err != nil {
			return err
		}
		if *restart && cluster != nil {
			after, err := restartAll(ctx, cluster, s)
			if err != nil {
				return err
			}
			res.extra += "; after restart and a full List: " + after
			if err := dumpMembers("restart", cluster); err != nil {
				return err
			}
		}
	}
	res.diskBytes = du(diskDir)
	fmt.Printf("| %s | %d | %.1f s | %.0f entries/s | %s (%.0f B/entry) | %s |\n",
		res.backend, res.entries, res.importSec, res.rate, human(res.diskBytes), float64(res.diskBytes)/float64(res.entries),
		fmt.Sprintf("bench process peak RSS %s (Go runtime %s)", res.selfRSS, human(int64(res.memBytes))))
	if res.extra != "" {
		fmt.Printf("|   | %s |\n", res.extra)
	}
	for _, k := range []int{10, 100, 1000} {
		line := fmt.Sprintf("| %s | Visible, %d visible |", res.backend, k)
		if res.visibleAtCheck != nil {
			line += fmt.Sprintf(" at %d: p50 %v p99 %v |", *checkAt, res.visibleAtCheck[k][0], res.visibleAtCheck[k][1])
		}
		line += fmt.Sprintf(" at %d: p50 %v p99 %v |", *n, res.visible[k][0], res.visible[k][1])
		fmt.Println(line)
	}
	return nil
}

// measureVisible times Visible for the three probe users and checks the
// answer's size.
func measureVisible(ctx context.Context, s registry.Store) (map[int][2]time.Duration, string, error) {
	// Measure a settled registry, as in production: not while the import's
	// own compaction still runs.
	if l, ok := s.(*leveldb.Store); ok && *settle {
		t0 := time.Now()
		if err := l.Compact(ctx); err != nil {
			return nil, "", err
		}
		fmt.Fprintf(os.Stderr, "bench: leveldb compaction took %v\n", time.Since(t0))
	}
	out := map[int][2]time.Duration{}
	var msgs []string
	for _, k := range []int{10, 100, 1000} {
		user := fmt.Sprintf("vis%d", k)
		names, err := s.Visible(ctx, user, nil)
		if err != nil {
			return nil, "", err
		}
		d := make([]time.Duration, 0, *samples)
		for range *samples {
			t0 := time.Now()
			if _, err := s.Visible(ctx, user, nil); err != nil {
				return nil, "", err
			}
			d = append(d, time.Since(t0))
		}
		sort.Slice(d, func(a, b int) bool { return d[a] < d[b] })
		p50, p99 := d[len(d)/2], d[len(d)*99/100]
		out[k] = [2]time.Duration{p50.Round(time.Microsecond), p99.Round(time.Microsecond)}
		msgs = append(msgs, fmt.Sprintf("%s sees %d: p50 %v p99 %v", user, len(names), p50, p99))
	}
	return out, strings.Join(msgs, "; "), nil
}

func du(path string) int64 {
	out, err := exec.Command("du", "-sb", path).Output()
	if err != nil {
		return -1
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseInt(f[0], 10, 64)
	return v
}

// memLine reports a process's peak and current resident set, and the
// current one split into anonymous memory (heap) and file pages (the
// memory-mapped bbolt file).
func memLine(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	v := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, val, ok := strings.Cut(l, ":"); ok {
			v[k] = strings.TrimSpace(val)
		}
	}
	return fmt.Sprintf("peak %s, now %s (anon %s, file %s)", v["VmHWM"], v["VmRSS"], v["RssAnon"], v["RssFile"])
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// restartAll restarts the members one by one (each healthy again before
// the next), reads the whole registry once, and reports each member's
// memory: what a member holding the registry needs, without the import's
// transient buffers.
func restartAll(ctx context.Context, c *etcdtest.Cluster, s registry.Store) (string, error) {
	for i := range c.Members {
		if *rsLimit != "" {
			env := []string{"GOMEMLIMIT=" + *rsLimit}
			if *gogc != 0 {
				env = append(env, fmt.Sprintf("GOGC=%d", *gogc))
			}
			c.SetEnv(i, env)
		}
		if err := c.Restart(i); err != nil {
			return "", err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := c.WaitHealthy(wctx)
		cancel()
		if err != nil {
			return "", err
		}
	}
	n, err := again(func() (int, error) {
		n := 0
		_, err := s.List(ctx, "", func(registry.Entry) error { n++; return nil })
		return n, err
	})
	if err != nil {
		return "", err
	}
	if _, err := s.Visible(ctx, "vis1000", nil); err != nil {
		return "", err
	}
	var mems []string
	for i := range c.Members {
		mems = append(mems, fmt.Sprintf("m%d %s", i, memLine(c.Pid(i))))
	}
	return fmt.Sprintf("%d listed; %s", n, strings.Join(mems, "; ")), nil
}

func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

func human(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d B", b)
}

// startEmbedded starts -members durable embedded members (etcd's own
// fsync) on 127.0.0.141-143, client port 24341, peer port 24351.
func startEmbedded(ctx context.Context, dir string, ops int) ([]string, func(), error) {
	if *gogc != 0 {
		debug.SetGCPercent(*gogc)
	}
	switch *memLimit {
	case "":
	case "auto":
		// in force before the members restore their key index
		t0 := time.Now()
		tuner = memlimit.Start(ctx, func(old, limit, live int64) {
			fmt.Fprintf(os.Stderr, "bench: +%.1fs gomemlimit %s (live heap %s, RSS %s)\n", time.Since(t0).Seconds(), human(limit), human(live), memLine(os.Getpid()))
		})
	default:
		n, err := parseBytes("-gomemlimit", *memLimit)
		if err != nil {
			return nil, nil, err
		}
		debug.SetMemoryLimit(n)
	}
	k := *members
	var initial, eps []string
	for i := 0; i < k; i++ {
		ip := fmt.Sprintf("127.0.0.%d", 141+i)
		initial = append(initial, fmt.Sprintf("e%d=http://%s:24351", i, ip))
		eps = append(eps, fmt.Sprintf("http://%s:24341", ip))
	}
	ms := make([]*member.Member, k)
	errs := make(chan error, k)
	for i := 0; i < k; i++ {
		go func(i int) {
			ip := fmt.Sprintf("127.0.0.%d", 141+i)
			m, err := member.Start(ctx, member.Config{
				Name: fmt.Sprintf("e%d", i), Dir: filepath.Join(dir, fmt.Sprintf("m%d", i)),
				PeerURL: "http://" + ip + ":24351", ClientURL: "http://" + ip + ":24341",
				InitialCluster: strings.Join(initial, ","), MaxTxnOps: uint(ops),
				TickMs: 50, ElectionMs: 500,
				SnapshotCount: uint64(*snapN), CatchUpEntries: uint64(*catchUp),
			})
			ms[i] = m
			errs <- err
		}(i)
	}
	var first error
	for i := 0; i < k; i++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	stop := func() {
		for _, m := range ms {
			if m != nil {
				m.Close()
			}
		}
	}
	if first != nil {
		stop()
		return nil, nil, first
	}
	return eps, stop, nil
}

// reopenReport is -reopen: the embedded members already run on the data of
// an earlier run; read everything once (as restartAll does) and report the
// process's memory.
func reopenReport(ctx context.Context, s registry.Store) error {
	cnt, err := again(func() (int, error) {
		n := 0
		_, err := s.List(ctx, "", func(registry.Entry) error { n++; return nil })
		return n, err
	})
	if err != nil {
		return err
	}
	v, msg, err := measureVisible(ctx, s)
	if err != nil {
		return err
	}
	_ = v
	fmt.Fprintf(os.Stderr, "bench: reopened: %d listed; %s\n", cnt, msg)
	fmt.Printf("| reopened %d embedded members | %d listed | %s; %s | load %s |\n", *members, cnt, memLine(os.Getpid()), limitLine(), loadavg())
	if *settleAt > 0 {
		time.Sleep(*settleAt)
		fmt.Printf("| %v after the read | | %s; %s | load %s |\n", *settleAt, memLine(os.Getpid()), limitLine(), loadavg())
	}
	return dumpMembers("reopen", nil)
}

// dumpMembers writes -memdump's files for stage: per Debian member
// <stage>-m<i>.{smaps,metrics,heap}, or <stage>-self.{smaps,heap} for the
// embedded members (this process, after a GC).
func dumpMembers(stage string, c *etcdtest.Cluster) error {
	if *memDump == "" {
		return nil
	}
	if err := os.MkdirAll(*memDump, 0o755); err != nil {
		return err
	}
	copyURL := func(url, file string, filter func(string) bool) error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		if filter != nil {
			var keep []string
			for _, l := range strings.Split(string(b), "\n") {
				if filter(l) {
					keep = append(keep, l)
				}
			}
			b = []byte(strings.Join(keep, "\n") + "\n")
		}
		return os.WriteFile(file, b, 0o644)
	}
	smaps := func(pid int, file string) error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			return err
		}
		return os.WriteFile(file, b, 0o644)
	}
	if c == nil {
		runtime.GC()
		base := filepath.Join(*memDump, stage+"-self")
		if err := smaps(os.Getpid(), base+".smaps"); err != nil {
			return err
		}
		f, err := os.Create(base + ".heap")
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.WriteHeapProfile(f)
	}
	for i, m := range c.Members {
		base := filepath.Join(*memDump, fmt.Sprintf("%s-m%d", stage, i))
		if err := smaps(c.Pid(i), base+".smaps"); err != nil {
			return err
		}
		if err := copyURL(m.ClientURL+"/metrics", base+".metrics", func(l string) bool {
			return strings.HasPrefix(l, "go_") || strings.HasPrefix(l, "etcd_debugging_mvcc_keys_total") || strings.HasPrefix(l, "etcd_mvcc_db_total_size")
		}); err != nil {
			return err
		}
		if err := copyURL(m.ClientURL+"/debug/pprof/heap", base+".heap", nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "bench: memory of the members (%s) in %s\n", stage, *memDump)
	return nil
}

// parseBytes reads a GOMEMLIMIT-style size (internal/bytesize, as
// murder-bridge's --etcd-memory-limit) given to flag.
func parseBytes(flag, v string) (int64, error) {
	n, err := bytesize.Parse(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: want a size such as 600MiB", flag, v)
	}
	return n, nil
}

// tuner is -gomemlimit auto's (nil otherwise).
var tuner *memlimit.Tuner

// checkLimitFlags refuses -gomemlimit and -restart-gomemlimit values
// before anything runs. auto follows the live heap of this process
// (internal/memlimit), so it is only for -embedded members; Debian's etcd
// members are processes of their own that read a fixed GOMEMLIMIT.
func checkLimitFlags() error {
	for _, f := range []struct{ name, v string }{{"-gomemlimit", *memLimit}, {"-restart-gomemlimit", *rsLimit}} {
		if f.v == "" {
			continue
		}
		if f.v == "auto" {
			if f.name == "-gomemlimit" && *embedded && *backend == "etcd" {
				continue
			}
			return fmt.Errorf("%s auto: only for -backend etcd -embedded -gomemlimit (auto sets this process's Go memory limit from its own live heap; Debian's etcd members are separate processes: give them a size such as 600MiB)", f.name)
		}
		if _, err := parseBytes(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// limitLine says the Go memory limit of this process (for -embedded
// members), and the live heap auto followed.
func limitLine() string {
	l := debug.SetMemoryLimit(-1) // -1 reads it
	s := "gomemlimit none"
	if l != math.MaxInt64 {
		s = "gomemlimit " + human(l)
	}
	if tuner != nil {
		s += fmt.Sprintf(" (auto; live heap %s at the last step)", human(tuner.Live()))
	}
	// whether the limit made Go collect non-stop: the GC CPU limiter
	// (which caps the collector near half the CPU) engages only then
	m := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/limiter/last-enabled:gc-cycle"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(m)
	if m[0].Value.Kind() == metrics.KindUint64 && m[1].Value.Kind() == metrics.KindUint64 && m[2].Value.Kind() == metrics.KindFloat64 {
		s += fmt.Sprintf(", %d GCs, GC CPU limiter last on in cycle %d (0: never), GC CPU %.1f s of %.1f s", m[0].Value.Uint64(), m[1].Value.Uint64(),
			m[2].Value.Float64(), m[3].Value.Float64())
	}
	return s
}

// again runs a whole-registry read up to five times: on this shared
// two-core machine (load 30 and more) a Count or List of millions of keys
// can outlast the store's own 15 s of read retries; what is measured is
// memory, not that read.
func again(f func() (int, error)) (int, error) {
	var err error
	for i := 0; i < 5; i++ {
		var n int
		if n, err = f(); err == nil {
			return n, nil
		}
		fmt.Fprintf(os.Stderr, "bench: whole-registry read failed (%v); again\n", err)
	}
	return 0, err
}
