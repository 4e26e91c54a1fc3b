package leveldb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

func benchEntry(i int) registry.Entry {
	e := registry.Entry{}
	e.Name = fmt.Sprintf("user.u%07d", i/10)
	if i%10 != 0 {
		e.Name += fmt.Sprintf(".f%d", i%10)
	}
	e.Server, e.Partition = "be1", "default"
	e.UniqueID = fmt.Sprintf("%016x", i)
	e.ACL = mboxlist.ACL{{ID: fmt.Sprintf("u%07d", i/10), Rights: "lrswipkxtecdan"}, {ID: fmt.Sprintf("group:g%d", i%100), Rights: "lrs"}}
	return e
}

// BenchmarkImport imports batches of 10,000 entries (synced, as production).
// bench/registry measures a whole 1,000,000-entry import.
func BenchmarkImport(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "reg"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 10000
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		es := make([]registry.Entry, batch)
		for k := range es {
			es[k] = benchEntry(n + k)
		}
		n += batch
		if _, err := s.Import(context.Background(), es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkVisible: a user seeing 100 mailboxes (10 own, 90 granted) in
// registries of different sizes; the time per call should not grow with
// the registry.
func BenchmarkVisible(b *testing.B) {
	for _, size := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) {
			s, err := Open(context.Background(), filepath.Join(b.TempDir(), "reg"), &Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			var es []registry.Entry
			for i := range size {
				e := benchEntry(i)
				if i%10 == 0 && (i/10)%(size/10/90) == 0 && (i/10)/(size/10/90) < 90 {
					e.ACL = append(e.ACL, mboxlist.ACLItem{ID: "probe", Rights: "lr"})
				}
				es = append(es, e)
				if len(es) == 10000 {
					if _, err := s.Import(ctx, es); err != nil {
						b.Fatal(err)
					}
					es = es[:0]
				}
			}
			var own []registry.Entry
			for k := range 10 {
				e := benchEntry(0)
				e.Name = "user.probe"
				if k > 0 {
					e.Name += fmt.Sprintf(".f%d", k)
				}
				e.ACL = mboxlist.ACL{{ID: "probe", Rights: "lrswipkxtecdan"}}
				own = append(own, e)
			}
			if _, err := s.Import(ctx, append(es, own...)); err != nil {
				b.Fatal(err)
			}
			names, err := s.Visible(ctx, "probe", nil)
			if err != nil || len(names) != 100 {
				b.Fatalf("probe sees %d (%v), want 100", len(names), err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Visible(ctx, "probe", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuild builds a registry of 200,000 entries (the same entries as
// BenchmarkImport) with Build, synced; compare entries/s with
// BenchmarkImport. bench/registry -build measures 1,000,000.
func BenchmarkBuild(b *testing.B) {
	const n = 200000
	b.ReportAllocs()
	runs := 0
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), fmt.Sprintf("reg%d", runs))
		runs++
		_, err := Build(context.Background(), dir, nil, func(add func(registry.Entry) error) error {
			for i := range n {
				if err := add(benchEntry(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*runs)/b.Elapsed().Seconds(), "entries/s")
}
