package bridge_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/murderkit/murderkit/bridge"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// benchEntries is the registry size of BenchmarkSnapshotRange
// (BRIDGE_BENCH_ENTRIES, default 100000).
func benchEntries() int {
	if n, err := strconv.Atoi(os.Getenv("BRIDGE_BENCH_ENTRIES")); err == nil && n > 0 {
		return n
	}
	return 100000
}

// BenchmarkSnapshotRange: what an UPDATE dump costs on the adapter's side
// (registry listing + conversion to MUPDATE records), in entries/s.
func BenchmarkSnapshotRange(b *testing.B) {
	ctx := context.Background()
	st, err := leveldb.Open(ctx, b.TempDir(), &leveldb.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	n := benchEntries()
	batch := make([]registry.Entry, 0, 10000)
	for i := range n {
		batch = append(batch, registry.Entry{Entry: mboxlist.Entry{
			Name: fmt.Sprintf("user.u%07d", i), Type: mboxlist.TypeEmail | mboxlist.FlagRemote,
			Server: "127.0.0.1:11143", Partition: "default",
			ACL: mboxlist.ACL{{ID: fmt.Sprintf("u%07d", i), Rights: "lrswipkxtecdan"}, {ID: "anyone", Rights: "lr"}}}})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := st.Import(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	a := bridge.New(st)
	b.ResetTimer()
	for b.Loop() {
		snap, err := a.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		if err := snap.Range(ctx, func(m mupdate.Mailbox) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		snap.Close()
		if got != n {
			b.Fatalf("ranged %d of %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkReserveActivate: one RESERVE+ACTIVATE pair through the adapter
// on leveldb with synced writes (each write acknowledged once on disk).
func BenchmarkReserveActivate(b *testing.B) {
	ctx := context.Background()
	st, err := leveldb.Open(ctx, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := bridge.New(st)
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("user.b%08d", i)
		i++
		if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: name, Location: "h!p"}); err != nil {
			b.Fatal(err)
		}
		if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: name, Location: "h!p", ACL: "anyone\tlrs\t"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkReserveActivate16: the same from 16 concurrent writers (what
// group commit in the registry would speed up).
func BenchmarkReserveActivate16(b *testing.B) {
	ctx := context.Background()
	st, err := leveldb.Open(ctx, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := bridge.New(st)
	b.SetParallelism(8) // 2 cores here: 16 goroutines
	var seq atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("user.p%08d", seq.Add(1))
			if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpReserve, Name: name, Location: "h!p"}); err != nil {
				b.Error(err)
				return
			}
			if err := a.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: name, Location: "h!p", ACL: "anyone\tlrs\t"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
