package twoskip

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
)

func benchFile(b *testing.B, n int) (string, int64) {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.db")
	w, err := Create(p, nil)
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

func BenchmarkIterate(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			p, size := benchFile(b, n)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				db, err := Open(p, nil)
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

func BenchmarkWrite(b *testing.B) {
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
				w, err := Create(p, &cyrusdb.WriteOptions{Generation: 1})
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
