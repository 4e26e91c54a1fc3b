package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

var build = flag.Bool("build", false, "leveldb: fill the empty registry with leveldb.Build (what `mboxconv import` does into an empty registry) instead of Store.Import batches; with -check-at, a registry of that size is built and measured first")

// feedSorted gives the first m synthetic entries plus the probe users' own
// mailboxes in dbname order (Build needs it): each user's mailboxes sorted,
// users in order, the probe users ("user.vis...") after the "user.u..." ones.
func feedSorted(m, total int) func(add func(registry.Entry) error) error {
	return func(add func(registry.Entry) error) error {
		g := &gen{}
		// A user's INBOX (k 0), then its folders in name order.
		order := []int{0}
		for k := range folders {
			order = append(order, k+1)
		}
		sort.Slice(order[1:], func(a, b int) bool { return folders[order[1+a]-1] < folders[order[1+b]-1] })
		for u := 0; u*10 < m; u++ {
			for _, k := range order {
				i := u*10 + k
				if i >= m {
					continue
				}
				e := g.entry(i)
				for _, p := range grantOn(i, total) {
					e.ACL = append(e.ACL, mboxlist.ACLItem{ID: p, Rights: "lr"})
				}
				if err := add(e); err != nil {
					return err
				}
			}
		}
		var probes []registry.Entry
		for _, k := range []int{10, 100, 1000} {
			probes = append(probes, probeEntries(k, total)...)
		}
		sort.Slice(probes, func(a, b int) bool { return registry.DBName(probes[a].Name) < registry.DBName(probes[b].Name) })
		for _, e := range probes {
			if err := add(e); err != nil {
				return err
			}
		}
		return nil
	}
}

func probeCount() int {
	n := 0
	for _, k := range []int{10, 100, 1000} {
		n += len(probeEntries(k, 0))
	}
	return n
}

// buildOne builds a registry of n entries in dir and measures it.
func buildOne(ctx context.Context, dir string, n int) (time.Duration, *leveldb.Store, error) {
	t0 := time.Now()
	st, err := leveldb.Build(ctx, dir, &leveldb.Options{NoSync: *nosync}, feedSorted(n-probeCount(), n))
	took := time.Since(t0)
	if err != nil {
		return 0, nil, err
	}
	if st.Created != n {
		return 0, nil, fmt.Errorf("built %d entries, want %d", st.Created, n)
	}
	s, err := leveldb.Open(ctx, dir, &leveldb.Options{NoSync: *nosync})
	return took, s, err
}

func runBuild(ctx context.Context, work string) error {
	var atCheck map[int][2]time.Duration
	if *checkAt < *n {
		_, s, err := buildOne(ctx, filepath.Join(work, "check"), *checkAt)
		if err != nil {
			return err
		}
		v, msg, err := measureVisible(ctx, s)
		s.Close()
		if err != nil {
			return err
		}
		atCheck = v
		fmt.Fprintf(os.Stderr, "bench: built %d entries: %s\n", *checkAt, msg)
		os.RemoveAll(filepath.Join(work, "check"))
	}
	dir := filepath.Join(work, "reg")
	took, s, err := buildOne(ctx, dir, *n)
	if err != nil {
		return err
	}
	defer s.Close()
	cnt, err := s.Count(ctx, "")
	if err != nil {
		return err
	}
	if cnt != *n {
		return fmt.Errorf("registry holds %d entries, built %d", cnt, *n)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	disk := du(dir)
	v, msg, err := measureVisible(ctx, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: built %d entries: %s\n", *n, msg)
	fmt.Printf("| leveldb (Build) | %d | %.1f s | %.0f entries/s | %s (%.0f B/entry) | bench process peak RSS %s (Go runtime %s) |\n",
		*n, took.Seconds(), float64(*n)/took.Seconds(), human(disk), float64(disk)/float64(*n), peakRSS(os.Getpid()), human(int64(ms.Sys)))
	for _, k := range []int{10, 100, 1000} {
		line := fmt.Sprintf("| leveldb (Build) | Visible, %d visible |", k)
		if atCheck != nil {
			line += fmt.Sprintf(" at %d: p50 %v p99 %v |", *checkAt, atCheck[k][0], atCheck[k][1])
		}
		line += fmt.Sprintf(" at %d: p50 %v p99 %v |", *n, v[k][0], v[k][1])
		fmt.Println(line)
	}
	return nil
}
