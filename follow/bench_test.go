package follow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/murderkit/murderkit/follow"
)

// BenchmarkResync measures a first full resynchronisation of N entries from
// a MUPDATE master (our server on an in-memory list, over loopback) into an
// empty goleveldb registry, and a second one with nothing to change
// (a restart's resync: one read per entry, no write).
func BenchmarkResync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m := startMasterB(b, ctx)
			for i := range n {
				m.be.Write(ctx, act(fmt.Sprintf("user.u%06d", i), "127.0.0.1:11143!default", fmt.Sprintf("u%06d\tlrswipkxtecdan\t", i)))
			}
			var first, second time.Duration
			for b.Loop() {
				st := openStoreB(b)
				for _, phase := range []*time.Duration{&first, &second} {
					f, _ := follow.New(follow.Config{Addr: m.addr, User: "murder", Password: "murderpw", Store: st, Logger: quiet()})
					fctx, stop := context.WithCancel(ctx)
					start := time.Now()
					done := make(chan struct{})
					go func() { f.Run(fctx); close(done) }()
					// polled every millisecond, not with internal/eventually
					// (whose pauses grow to 100 ms): the time taken is what
					// is measured
					for f.Status().Resyncs < 1 {
						time.Sleep(time.Millisecond)
					}
					*phase += time.Since(start)
					stop()
					<-done
				}
				st.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/first.Seconds(), "entries/s-first")
			b.ReportMetric(float64(n)*float64(b.N)/second.Seconds(), "entries/s-unchanged")
		})
	}
}
