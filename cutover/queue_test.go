package cutover

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/mupdate"
)

// The queue keeps its order and its content across a reopen.
func TestQueueOrderAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	q, err := OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	ops := []mupdate.Op{mupdate.OpReserve, mupdate.OpActivate, mupdate.OpDeactivate, mupdate.OpDelete}
	for i := range 300 {
		r := mupdate.Request{Op: ops[i%4], Name: fmt.Sprintf("user.u%03d", i), Location: "be1!default", ACL: "u\tlrs\t"}
		if err := q.Push(r); err != nil {
			t.Fatal(err)
		}
	}
	// pop the first 100, reopen, the rest continue in order
	for i := range 100 {
		seq, r, ok, err := q.Peek()
		if err != nil || !ok || r.Name != fmt.Sprintf("user.u%03d", i) {
			t.Fatalf("peek %d = %v %v %v", i, r, ok, err)
		}
		if err := q.Pop(seq); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	q, err = OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Len() != 200 {
		t.Fatalf("after reopen Len = %d, want 200", q.Len())
	}
	if err := q.Push(mupdate.Request{Op: mupdate.OpDelete, Name: "user.last"}); err != nil {
		t.Fatal(err)
	}
	for i := 100; i <= 300; i++ {
		seq, r, ok, err := q.Peek()
		want := fmt.Sprintf("user.u%03d", i)
		if i == 300 {
			want = "user.last"
		}
		if err != nil || !ok || r.Name != want || (i < 300 && (r.Op != ops[i%4] || r.ACL != "u\tlrs\t")) {
			t.Fatalf("peek %d = %+v %v %v, want %s", i, r, ok, err, want)
		}
		if err := q.Pop(seq); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok, _ := q.Peek(); ok || q.Len() != 0 {
		t.Fatalf("queue not empty: Len %d", q.Len())
	}
}
