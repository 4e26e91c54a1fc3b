package wire_test

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

func dumpBytes(n int) []byte {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	e := wire.NewEncoder(w)
	for i := range n {
		e.Mailbox("U01", mupdate.Mailbox{Name: fmt.Sprintf("user.u%07d.Sent", i), State: mupdate.Active, Location: "backend1.example.com!default", ACL: fmt.Sprintf("u%07d\tlrswipkxtecdan\tanyone\tlr\t", i)})
	}
	e.Status("U01", "OK", "streaming starts")
	e.Flush()
	return buf.Bytes()
}

// BenchmarkEncodeMailbox: the server's cost per dumped entry.
func BenchmarkEncodeMailbox(b *testing.B) {
	m := mupdate.Mailbox{Name: "user.u0000001.Sent", State: mupdate.Active, Location: "backend1.example.com!default", ACL: "u0000001\tlrswipkxtecdan\tanyone\tlr\t"}
	w := bufio.NewWriterSize(discard{}, 64<<10)
	e := wire.NewEncoder(w)
	b.ReportAllocs()
	for b.Loop() {
		e.Mailbox("U01", m)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkDecodeDump: the client's cost per received entry.
func BenchmarkDecodeDump(b *testing.B) {
	const n = 100000
	data := dumpBytes(n)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d := wire.NewResponseDecoder(bufio.NewReaderSize(bytes.NewReader(data), 64<<10), wire.Limits{})
		for i := 0; i <= n; i++ {
			if _, err := d.ReadResponse(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
