package skiplist

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

func BenchmarkIterate(b *testing.B) { fileFormat.BenchIterate(b) }

func BenchmarkWrite(b *testing.B) { fileFormat.BenchWrite(b) }

// A file whose records are all in the log (ADD + COMMIT per record, as
// Cyrus leaves a file between checkpoints): Open replays the log.
func BenchmarkIterateLogForm(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			p, _ := fileFormat.BenchFile(b, 0)
			raw, _ := os.ReadFile(p)
			val := bytes.Repeat([]byte("v"), 120)
			for i := 0; i < n; i++ {
				k := fmt.Sprintf("Nuser.u%08d", i)
				raw = be.AppendUint32(raw, typeAdd)
				raw = be.AppendUint32(raw, uint32(len(k)))
				raw = append(raw, k...)
				raw = append(raw, make([]byte, r4(int64(len(k)))-int64(len(k)))...)
				raw = be.AppendUint32(raw, uint32(len(val)))
				raw = append(raw, val...)
				raw = be.AppendUint32(raw, 0)
				raw = be.AppendUint32(raw, terminator)
				raw = be.AppendUint32(raw, typeCommit)
			}
			os.WriteFile(p, raw, 0o600)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				db, err := Open(p, nil)
				if err != nil {
					b.Fatal(err)
				}
				m := 0
				if err := db.Iterate(func(k, v []byte) error { m++; return nil }); err != nil || m != n {
					b.Fatal(err, m)
				}
				db.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
