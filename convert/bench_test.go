package convert

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/registry"
)

// BenchmarkImportLevelDB imports 100,000 entries into a fresh leveldb
// registry per iteration (batches of 10,000, with digest and verification).
func BenchmarkImportLevelDB(b *testing.B) {
	ctx := context.Background()
	all := entries(100000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := registry.Open(ctx, "leveldb://"+filepath.Join(b.TempDir(), "reg"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s, err := Import(ctx, sliceSource(all), st, ImportOptions{Batch: 10000})
		if err != nil || !s.Verified {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(all)*b.N)/b.Elapsed().Seconds(), "entries/s")
}
