package mupdateserver_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
)

// BenchmarkFullUpdate: one UPDATE client receives the full list of N
// entries (in-memory backend, loopback TCP, our client decoding). Set
// MUPDATE_BENCH_MAX=1000000 for the 1M-entry run of the issue.
func BenchmarkFullUpdate(b *testing.B) {
	sizes := []int{10000, 100000}
	if v, _ := strconv.Atoi(os.Getenv("MUPDATE_BENCH_MAX")); v > 100000 {
		sizes = append(sizes, v)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			ts := startServer(b, nil)
			mbs := make([]mupdate.Mailbox, n)
			for i := range mbs {
				mbs[i] = mb(fmt.Sprintf("user.u%07d.Sent", i), "backend1.example.com!default", fmt.Sprintf("u%07d\tlrswipkxtecdan\tanyone\tlr\t", i))
			}
			ts.be.Load(mbs...)
			b.ResetTimer()
			for b.Loop() {
				c := dialClient(b, ts.addr, "admin", "adminpw", "PLAIN", nil)
				ctx, cancel := context.WithCancel(context.Background())
				got := 0
				c.Update(ctx, nil, func(ev mupdateclient.Event) error {
					if ev.Type == mupdateclient.EventSynced {
						cancel()
						return context.Canceled
					}
					got++
					return nil
				})
				cancel()
				c.Close()
				if got != n {
					b.Fatalf("got %d entries, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkReserveActivate16: 16 clients, each sending RESERVE+ACTIVATE
// pairs for fresh names, as backends do on CREATE (in-memory backend).
func BenchmarkReserveActivate16(b *testing.B) {
	ts := startServer(b, nil)
	const clients = 16
	cs := make([]*mupdateclient.Client, clients)
	for i := range cs {
		cs[i] = dialClient(b, ts.addr, "murder", "murderpw", "PLAIN", nil)
	}
	ctx := context.Background()
	var next sync.Mutex
	seq := 0
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan int)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name := "user.bench" + strconv.Itoa(i)
				if err := c.Reserve(ctx, name, "b1!default"); err != nil {
					b.Error(err)
					return
				}
				if err := c.Activate(ctx, name, "b1!default", "x\tlrswipkxtecdan\t"); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for b.Loop() {
		next.Lock()
		seq++
		i := seq
		next.Unlock()
		work <- i
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkWritesDuringDump: p99 latency of RESERVE+ACTIVATE pairs from 4
// clients while one client receives a full UPDATE dump of N entries
// (in-memory backend; dumps are served from a snapshot, so writers are not
// stalled). MUPDATE_BENCH_MAX sets N (default 200000).
func BenchmarkWritesDuringDump(b *testing.B) {
	n := 200000
	if v, _ := strconv.Atoi(os.Getenv("MUPDATE_BENCH_MAX")); v > 0 {
		n = v
	}
	ts := startServer(b, nil)
	mbs := make([]mupdate.Mailbox, n)
	for i := range mbs {
		mbs[i] = mb(fmt.Sprintf("user.u%07d.Sent", i), "backend1.example.com!default", "x\tlrswipkxtecdan\t")
	}
	ts.be.Load(mbs...)
	ctx := context.Background()
	writers := make([]*mupdateclient.Client, 4)
	for i := range writers {
		writers[i] = dialClient(b, ts.addr, "murder", "murderpw", "PLAIN", nil)
	}
	var all []time.Duration
	seq := 0
	for b.Loop() {
		reader := dialClient(b, ts.addr, "admin", "adminpw", "PLAIN", nil)
		dumpDone := make(chan struct{})
		go func() {
			uctx, cancel := context.WithCancel(ctx)
			defer cancel()
			reader.Update(uctx, nil, func(ev mupdateclient.Event) error {
				if ev.Type == mupdateclient.EventSynced {
					close(dumpDone)
					return context.Canceled
				}
				return nil
			})
		}()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w, c := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ; k++ {
					select {
					case <-dumpDone:
						return
					default:
					}
					name := fmt.Sprintf("user.dd%d.%d.%d", seq, w, k)
					t0 := time.Now()
					if err := c.Reserve(ctx, name, "b1!p"); err != nil {
						b.Error(err)
						return
					}
					if err := c.Activate(ctx, name, "b1!p", ""); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					all = append(all, time.Since(t0))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		reader.Close()
		seq++
	}
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "pairs/s")
	}
}

// BenchmarkIdleUpdateClients: N idle UPDATE clients (default 1000;
// MUPDATE_IDLE_CLIENTS) stay connected; reports the server's memory per
// idle client (heap + goroutine stacks, measured in this process, minus
// the test clients' share, which is a bare net.Conn each) and how long a
// new connection then waits for its greeting.
func BenchmarkIdleUpdateClients(b *testing.B) {
	n := 1000
	if v, _ := strconv.Atoi(os.Getenv("MUPDATE_IDLE_CLIENTS")); v > 0 {
		n = v
	}
	ts := startServer(b, nil)
	ts.be.Load(mb("user.a", "h!p", "a\tlrs\t"), mb("user.b", "h!p", "b\tlrs\t"))
	login := "A01 AUTHENTICATE \"PLAIN\" {20+}\r\n" + b64("\x00admin\x00adminpw") + "\r\nU01 UPDATE\r\n"
	readUntil := func(c net.Conn, marker string) {
		var got []byte
		buf := make([]byte, 512)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for !strings.Contains(string(got), marker) {
			k, err := c.Read(buf)
			if err != nil {
				b.Fatalf("reading for %q: %v (%q)", marker, err, got)
			}
			got = append(got, buf[:k]...)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		c.Write([]byte(login))
		readUntil(c, "U01 OK \"streaming starts\"\r\n")
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perClient := float64((after.HeapInuse+after.StackInuse)-(before.HeapInuse+before.StackInuse)) / float64(n)
	var worst time.Duration
	for b.Loop() {
		t0 := time.Now()
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			b.Fatal(err)
		}
		readUntil(c, "* OK MUPDATE")
		worst = max(worst, time.Since(t0))
		c.Close()
	}
	if got := ts.srv.Conns(); got < n {
		b.Fatalf("only %d connections open", got)
	}
	b.ReportMetric(perClient/1024, "KiB/idle-client")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-greeting-ms")
}
