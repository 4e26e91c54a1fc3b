package etcd_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/etcd"
	"github.com/murderkit/murderkit/registry/registrytest"
)

// TestSlowReadGetsMoreTime: a read that takes longer than its attempt
// timeout on a healthy cluster (etcd walks every key of a range: a Count
// over ten million entries outlasted the 5 s attempt on a busy member) is
// tried again with twice the time until it fits, instead of failing after
// the read window. Here the attempt timeout is shrunk to 100 µs so that a
// Count over 20,000 entries cannot fit the first attempt. Without the
// growth (a maximum equal to the first timeout, as before) the same Count
// fails after the read window ("read tried 66 times over 15.191s").
func TestSlowReadGetsMoreTime(t *testing.T) {
	c := sharedCluster(t)
	ctx := context.Background()
	s, err := etcd.Open(ctx, c.Endpoints(), &etcd.Options{Prefix: fmt.Sprintf("/slowread-%d", time.Now().UnixNano()), MaxTxnOps: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 20000
	es := make([]registry.Entry, 0, n)
	for i := range n {
		es = append(es, registrytest.Mailbox(fmt.Sprintf("user.s%05d", i), "be1", "default", fmt.Sprintf("s%05d", i), "lrswipkxtecda"))
	}
	if st, err := s.Import(ctx, es); err != nil || st.Created != n {
		t.Fatalf("import = %+v, %v", st, err)
	}

	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	etcd.SetReadTimeouts(s, 100*time.Microsecond, 30*time.Second)
	slow := s.SlowReads()
	got, err := s.Count(cctx, "")
	if err != nil || got != n {
		t.Fatalf("Count with a growing attempt timeout = %d, %v; want %d", got, err, n)
	}
	if s.SlowReads() == slow {
		t.Errorf("the Count fit a 100 µs attempt: the test proves nothing on this machine")
	}
}
