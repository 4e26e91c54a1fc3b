package cyrusdbtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
)

// BenchFile writes n records of 120-byte values with f's writer and returns
// the file's path and size.
func (f FileFormat) BenchFile(b *testing.B, n int) (string, int64) {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.db")
	w, err := f.Create(p, nil)
	if err != nil {
		b.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 120)
	for i := 0; i < n; i++ {
		if err := w.Add([]byte(fmt.Sprintf("Nuser.u%08d", i)), val); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(p)
	return p, st.Size()
}

// BenchIterate opens and iterates files of 1,000 and 100,000 records.
func (f FileFormat) BenchIterate(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			p, size := f.BenchFile(b, n)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				db, err := f.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Iterate(func(k, v []byte) error { return nil }); err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchWrite writes files of 1,000 and 100,000 records.
func (f FileFormat) BenchWrite(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "w.db")
			val := bytes.Repeat([]byte("v"), 120)
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("Nuser.u%08d", i))
			}
			b.ReportAllocs()
			for b.Loop() {
				w, err := f.Create(p, &cyrusdb.WriteOptions{Generation: 1})
				if err != nil {
					b.Fatal(err)
				}
				for _, k := range keys {
					if err := w.Add(k, val); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
