package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/backendtest"
	"github.com/murderkit/murderkit/mupdate/memory"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) mupdate.Backend { return memory.New(nil) })
}

func TestCompactedAndLagged(t *testing.T) {
	ctx := context.Background()
	b := memory.New(&memory.Options{History: 4, WatchBuffer: 2})
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		b.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: n, Location: "h!p"})
	}
	if err := b.Watch(ctx, 1, func(mupdate.Change) error { return nil }); !errors.Is(err, mupdate.ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
	// A watcher that does not consume is ended, writers go on.
	started := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- b.Watch(ctx, 6, func(mupdate.Change) error {
			close(started)
			select {} // never returns: stuck consumer
		})
	}()
	// Write until the watcher has seen a change (it registers
	// asynchronously), then 10 more: none may block.
	for i := 0; ; i++ {
		b.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: fmt.Sprintf("w%d", i), Location: "h!p"})
		select {
		case <-started:
		case <-time.After(time.Millisecond):
			if i > 10000 {
				t.Fatal("watcher never called")
			}
			continue
		}
		break
	}
	before := b.Len()
	done := make(chan struct{})
	go func() {
		for i := range 10 {
			b.Write(ctx, mupdate.Request{Op: mupdate.OpActivate, Name: fmt.Sprintf("x%d", i), Location: "h!p"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("writes blocked by a stuck watcher")
	}
	if b.Len() != before+10 {
		t.Fatalf("%d mailboxes, want %d", b.Len(), before+10)
	}
}
