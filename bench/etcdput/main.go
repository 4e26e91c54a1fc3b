// Command etcdput measures the raw write ceiling of an etcd cluster: C
// clients, each putting one small key at a time and waiting for etcd's
// answer (a durable raft write), for a duration. bench/mupdate.sh runs it
// on the three bridges' embedded members after the MUPDATE writes, so that
// RESERVE+ACTIVATE pairs/s (two durable writes a pair) stand next to what
// the cluster itself does for the same number of clients. With -leader,
// every client talks to the member that leads (found with etcd's Status
// call): no proposal is forwarded, etcd's best case for as many clients.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func main() {
	eps := flag.String("endpoints", "", "client URLs, comma-separated; client i talks to endpoint i mod n")
	clients := flag.Int("clients", 16, "concurrent clients")
	dur := flag.Duration("duration", 5*time.Second, "how long to write")
	label := flag.String("label", "", "prefix of the printed figures")
	leader := flag.Bool("leader", false, "every client on the endpoint whose member leads")
	flag.Parse()
	if err := run(strings.Split(*eps, ","), *clients, *dur, *label, *leader); err != nil {
		fmt.Fprintln(os.Stderr, "etcdput:", err)
		os.Exit(1)
	}
}

func run(eps []string, clients int, dur time.Duration, label string, leader bool) error {
	if len(eps) == 0 || eps[0] == "" || clients < 1 {
		return fmt.Errorf("want -endpoints and -clients ≥ 1")
	}
	var clis []*clientv3.Client
	defer func() {
		for _, c := range clis {
			c.Close()
		}
	}()
	for _, ep := range eps {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return fmt.Errorf("%s: %w", ep, err)
		}
		clis = append(clis, c)
	}
	if leader {
		i, err := etcdtest.LeaderOf(context.Background(), eps)
		if err != nil {
			return err
		}
		clis = clis[i : i+1]
		fmt.Printf("%sendpoint=%s\n", label, eps[i])
	}
	val := strings.Repeat("x", 200) // about an entry's size
	end := time.Now().Add(dur)
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			c := clis[g%len(clis)]
			var mine []time.Duration
			for i := 0; time.Now().Before(end); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s := time.Now()
				_, err := c.Put(ctx, fmt.Sprintf("/etcdput/%02d/%08d", g, i), val)
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if len(lat) == 0 {
		return fmt.Errorf("no put finished in %v", dur)
	}
	slices.Sort(lat)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
	fmt.Printf("%sput_clients=%d\n%sputs=%d\n%sputs_per_s=%.0f\n%sput_p50_ms=%s\n%sput_p99_ms=%s\n",
		label, clients, label, len(lat), label, float64(len(lat))/dur.Seconds(), label, ms(lat[len(lat)/2]), label, ms(lat[len(lat)*99/100]))
	return nil
}
