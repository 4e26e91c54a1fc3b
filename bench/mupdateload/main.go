// Command mupdateload drives any MUPDATE server (a real Cyrus mupdate master
// or murder-bridge) for bench/mupdate.sh, through mupdateclient:
//
//	-mode update      one client: full UPDATE list, entries/s
//	-mode write       -clients N concurrent RESERVE+ACTIVATE pairs for
//	                  -duration: pairs/s, p50/p99 pair latency
//	-mode dumpwrite   one writer's pair latency (p50/p99/max) while
//	                  -dumpers clients each take a full UPDATE list
//	-mode waitfind    poll FIND -name on -addr (e.g. a frontend's read-only
//	                  mupdate service) until it answers: seconds waited
//	-mode idle        -idle N UPDATE clients synced and idle, then -probes
//	                  new connections: banner latency p50/p99/max, and
//	                  the server's RSS per idle client when -pid is given.
//	                  A connection not greeted within -dialtimeout ends the
//	                  step cleanly: idle_stalled_at= says how many were held
//	-mode serve-memory  an MUPDATE master (mupdateserver) on the in-memory
//	                  backend at -listen, loaded from the registry -from
//	                  (e.g. leveldb:///dir), until killed: the in-memory
//	                  figures over the same wire and client
//
// -addr takes a comma-separated list; clients are spread over it.
// Results are printed as "key=value" lines, one per figure.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/registry"
	_ "github.com/murderkit/murderkit/registry/leveldb"
)

var (
	addrs    = flag.String("addr", "127.0.0.1:3905", "MUPDATE server(s), comma-separated")
	user     = flag.String("user", "murder", "user")
	pass     = flag.String("pass", "murderpw", "password")
	mech     = flag.String("mech", "PLAIN", "SASL mechanism")
	mode     = flag.String("mode", "update", "update, write, dumpwrite or idle")
	clients  = flag.Int("clients", 16, "write: concurrent writers")
	duration = flag.Duration("duration", 10*time.Second, "write: how long")
	count    = flag.Int("count", 0, "write: stop after this many pairs in all (0: -duration only)")
	dialTO   = flag.Duration("dialtimeout", 10*time.Second, "idle: bound on one connection's banner and login")
	listen   = flag.String("listen", "127.0.0.1:3905", "serve-memory: MUPDATE listen address")
	from     = flag.String("from", "", "serve-memory: registry URL to load the in-memory list from")
	location = flag.String("location", "bench1!default", "location of written mailboxes")
	prefix   = flag.String("prefix", "", "name prefix of written mailboxes (default: benchw.<unix time>)")
	dumpers  = flag.Int("dumpers", 1, "dumpwrite: concurrent full UPDATE lists")
	idle     = flag.Int("idle", 1000, "idle: idle UPDATE clients")
	probes   = flag.Int("probes", 50, "idle: new connections timed")
	pid      = flag.Int("pid", 0, "idle: server pid whose RSS is read")
	findName = flag.String("name", "", "waitfind: mailbox to wait for")
	label    = flag.String("label", "", "printed before every figure")
	timeout  = flag.Duration("timeout", 30*time.Minute, "overall bound")
)

func main() {
	flag.Parse()
	if *prefix == "" {
		*prefix = "benchw." + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch *mode {
	case "update":
		err = runUpdate(ctx)
	case "write":
		err = runWrite(ctx)
	case "dumpwrite":
		err = runDumpWrite(ctx)
	case "idle":
		err = runIdle(ctx)
	case "waitfind":
		err = runWaitFind(ctx)
	case "serve-memory":
		err = runServeMemory(ctx)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mupdateload:", err)
		os.Exit(1)
	}
}

func out(k string, v any) { fmt.Printf("%s%s=%v\n", *label, k, v) }

func addrList() []string { return strings.Split(*addrs, ",") }

func dial(ctx context.Context, i int) (*mupdateclient.Client, error) {
	a := addrList()
	c, err := mupdateclient.Dial(ctx, a[i%len(a)], nil)
	if err != nil {
		return nil, err
	}
	if err := c.Authenticate(ctx, *user, *pass, *mech); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// fullList takes one full UPDATE list and returns the entry count.
func fullList(ctx context.Context, i int) (int, time.Duration, error) {
	c, err := dial(ctx, i)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	n := 0
	start := time.Now()
	var took time.Duration
	errSynced := fmt.Errorf("synced")
	err = c.Update(ctx, nil, func(ev mupdateclient.Event) error {
		switch ev.Type {
		case mupdateclient.EventMailbox:
			n++
		case mupdateclient.EventSynced:
			took = time.Since(start)
			return errSynced
		}
		return nil
	})
	if took == 0 {
		return n, 0, fmt.Errorf("UPDATE ended before the list was complete after %d entries: %v", n, err)
	}
	return n, took, nil
}

func runUpdate(ctx context.Context) error {
	n, took, err := fullList(ctx, 0)
	if err != nil {
		return err
	}
	out("update_entries", n)
	out("update_seconds", fmt.Sprintf("%.2f", took.Seconds()))
	out("update_entries_per_s", fmt.Sprintf("%.0f", float64(n)/took.Seconds()))
	return nil
}

// pair does one RESERVE+ACTIVATE.
func pair(ctx context.Context, c *mupdateclient.Client, name string) error {
	if err := c.Reserve(ctx, name, *location); err != nil {
		return err
	}
	return c.Activate(ctx, name, *location, "admin\tlrswipkxtecda\t")
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d)-1) * p)
	return d[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func runWrite(ctx context.Context) error {
	cs := make([]*mupdateclient.Client, *clients)
	for i := range cs {
		c, err := dial(ctx, i)
		if err != nil {
			return err
		}
		defer c.Close()
		cs[i] = c
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
		last atomic.Value
		took atomic.Int64
	)
	deadline := time.Now().Add(*duration)
	start := time.Now()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for j := 0; time.Now().Before(deadline); j++ {
				if *count > 0 && took.Add(1) > int64(*count) {
					break
				}
				t0 := time.Now()
				if err := pair(ctx, c, fmt.Sprintf("%s.c%02d.m%07d", *prefix, i, j)); err != nil {
					errs.Add(1)
					last.Store(err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	out("write_clients", *clients)
	out("write_pairs", len(lat))
	out("write_errors", errs.Load())
	if e := last.Load(); e != nil {
		out("write_last_error", strconv.Quote(e.(string)))
	}
	out("write_pairs_per_s", fmt.Sprintf("%.0f", float64(len(lat))/el.Seconds()))
	out("write_p50_ms", ms(pct(lat, 0.50)))
	out("write_p99_ms", ms(pct(lat, 0.99)))
	return nil
}

func runDumpWrite(ctx context.Context) error {
	w, err := dial(ctx, 0)
	if err != nil {
		return err
	}
	defer w.Close()
	var wg sync.WaitGroup
	var dumping atomic.Int64
	dumping.Store(int64(*dumpers))
	dumpErr := make(chan error, *dumpers)
	start := time.Now()
	for i := 0; i < *dumpers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer dumping.Add(-1)
			n, took, err := fullList(ctx, i+1)
			if err != nil {
				dumpErr <- err
				return
			}
			out(fmt.Sprintf("dump%d_entries", i), n)
			out(fmt.Sprintf("dump%d_seconds", i), fmt.Sprintf("%.2f", took.Seconds()))
		}()
	}
	var lat []time.Duration
	errs := 0
	for j := 0; dumping.Load() > 0; j++ {
		t0 := time.Now()
		if err := pair(ctx, w, fmt.Sprintf("%s.dw.m%07d", *prefix, j)); err != nil {
			errs++
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	wg.Wait()
	close(dumpErr)
	for err := range dumpErr {
		return err
	}
	out("dumpwrite_seconds", fmt.Sprintf("%.2f", time.Since(start).Seconds()))
	out("dumpwrite_pairs", len(lat))
	out("dumpwrite_errors", errs)
	out("dumpwrite_p50_ms", ms(pct(lat, 0.50)))
	out("dumpwrite_p99_ms", ms(pct(lat, 0.99)))
	out("dumpwrite_max_ms", ms(pct(lat, 1)))
	return nil
}

func rssKB(p int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

func runIdle(ctx context.Context) error {
	before := rssKB(*pid)
	var held []*mupdateclient.Client
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	synced := make(chan error, *idle)
	stalled := -1
	var stallErr error
	for i := 0; i < *idle; i++ {
		dctx, cancel := context.WithTimeout(ctx, *dialTO)
		c, err := dial(dctx, i)
		cancel()
		if err != nil {
			// A server that stops greeting (Cyrus's master once its worker
			// threads are all tied up by streaming clients) is a finding:
			// report how far it got and go on with what is connected.
			stalled, stallErr = i, err
			break
		}
		held = append(held, c)
		go func() {
			once := false
			err := c.Update(ctx, nil, func(ev mupdateclient.Event) error {
				if ev.Type == mupdateclient.EventSynced && !once {
					once = true
					synced <- nil
				}
				return nil
			})
			if !once {
				synced <- fmt.Errorf("UPDATE ended before synced: %v", err)
			}
		}()
	}
	syncStart := time.Now()
	for i := range held {
		select {
		case err := <-synced:
			if err != nil {
				return fmt.Errorf("idle client: %w", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d idle UPDATE clients synced: %w", i, len(held), ctx.Err())
		}
	}
	out("idle_sync_seconds", fmt.Sprintf("%.2f", time.Since(syncStart).Seconds()))
	time.Sleep(time.Second)
	after := rssKB(*pid)
	var lat []time.Duration
	failed := 0
	var probeErr error
	a := addrList()
	np := *probes
	if stalled >= 0 && np > 5 {
		np = 5 // each failing probe waits -dialtimeout
	}
	for i := 0; i < np; i++ {
		dctx, cancel := context.WithTimeout(ctx, *dialTO)
		t0 := time.Now()
		c, err := mupdateclient.Dial(dctx, a[i%len(a)], nil) // returns after the banner
		cancel()
		if err != nil {
			failed++
			probeErr = err
			continue
		}
		lat = append(lat, time.Since(t0))
		c.Close()
	}
	out("idle_clients", len(held))
	if stalled >= 0 {
		out("idle_stalled_at", stalled)
		out("idle_stall_error", strconv.Quote(stallErr.Error()))
	}
	out("idle_probes", np)
	out("idle_probes_failed", failed)
	if probeErr != nil {
		out("idle_probe_error", strconv.Quote(probeErr.Error()))
	}
	if len(lat) > 0 {
		out("idle_probe_p50_ms", ms(pct(lat, 0.5)))
		out("idle_probe_p99_ms", ms(pct(lat, 0.99)))
		out("idle_probe_max_ms", ms(pct(lat, 1)))
	}
	over := failed
	for _, d := range lat {
		if d > 100*time.Millisecond {
			over++
		}
	}
	out("idle_probes_over_100ms_or_failed", over)
	if *pid != 0 && before > 0 && after > 0 && len(held) > 0 {
		out("idle_rss_before_kb", before)
		out("idle_rss_after_kb", after)
		out("idle_kb_per_client", fmt.Sprintf("%.1f", float64(after-before)/float64(len(held))))
	}
	return nil
}

func runWaitFind(ctx context.Context) error {
	start := time.Now()
	for {
		if c, err := dial(ctx, 0); err == nil {
			_, ok, err := c.Find(ctx, *findName)
			c.Close()
			if err == nil && ok {
				out("waitfind_seconds", fmt.Sprintf("%.2f", time.Since(start).Seconds()))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never found: %w", *findName, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runServeMemory serves MUPDATE from the in-memory backend (mupdate/memory)
// loaded with every visible entry of the registry -from, converted exactly
// as the bridge converts them (bridge.ToMailbox): the same list, without
// storage underneath. Writes are acknowledged from memory (nothing synced).
func runServeMemory(ctx context.Context) error {
	mem := memory.New(nil)
	if *from != "" {
		st, err := registry.OpenExisting(ctx, *from) // read only: a mistyped path is an error
		if err != nil {
			return err
		}
		var batch []mupdate.Mailbox
		_, err = st.List(ctx, "", func(e registry.Entry) error {
			if e.Type.Has(mboxlist.FlagDeleted) {
				return nil
			}
			batch = append(batch, bridge.ToMailbox(&e))
			if len(batch) == 10000 {
				mem.Load(batch...)
				batch = batch[:0]
			}
			return nil
		})
		mem.Load(batch...)
		st.Close()
		if err != nil {
			return err
		}
	}
	cr, err := creds.Parse(strings.NewReader(*user + ":" + *pass + "\n"))
	if err != nil {
		return err
	}
	srv, err := mupdateserver.New(mupdateserver.Config{
		Backend:    mem,
		Auth:       cr,
		Admins:     []string{*user},
		ServerName: "bench-memory",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	runtime.GC()
	fmt.Fprintf(os.Stderr, "mupdateload: serving %d mailboxes from memory on %s\n", mem.Len(), ln.Addr())
	sctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = srv.Serve(sctx, ln)
	srv.Close()
	if sctx.Err() != nil {
		return nil
	}
	return err
}
