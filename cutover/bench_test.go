package cutover

import (
	"fmt"
	"testing"

	"github.com/murderkit/murderkit/mupdate"
)

// BenchmarkWriteThrough is one ACTIVATE in a cut-over slot: registry
// (leveldb) write, then the MUPDATE round trip to the old master (here the
// in-memory server on loopback).
func BenchmarkWriteThrough(b *testing.B) {
	_, _, be, _ := setup(b)
	b.ResetTimer()
	for i := range b.N {
		if err := be.Write(b.Context(), mupdate.Request{Op: mupdate.OpActivate, Name: fmt.Sprintf("user.b%d", i%1000),
			Location: "be1!default", ACL: "b\tlrs\t"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueuePushPop is one change through the durable queue (two
// synced leveldb writes).
func BenchmarkQueuePushPop(b *testing.B) {
	q, err := OpenQueue(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	r := mupdate.Request{Op: mupdate.OpActivate, Name: "user.x", Location: "be1!default", ACL: "x\tl\t"}
	for b.Loop() {
		if err := q.Push(r); err != nil {
			b.Fatal(err)
		}
		seq, _, _, err := q.Peek()
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Pop(seq); err != nil {
			b.Fatal(err)
		}
	}
}
