package leveldb

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry"
)

// Closing a Store while Watch calls start and run must be race-free (go test
// -race): every Watch either gets the "store closed" error or a channel that
// closes once Close has begun, and Close returns only after every watcher
// goroutine is done with the database.
func TestCloseWhileWatching(t *testing.T) {
	for round := 0; round < 20; round++ {
		st, err := Open(context.Background(), t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 20; j++ {
					for ev := range st.Watch(ctx, 0) {
						if ev.Err != nil {
							break
						}
					}
				}
			}()
		}
		go func() {
			e := registry.Entry{Locations: []registry.Location{{Server: "be1", Partition: "default"}}}
			e.Name = "user.fred"
			st.Put(ctx, e)
		}()
		time.Sleep(time.Duration(round%5) * time.Millisecond) // Close lands at a different moment of the watches' work each round: the thing tested
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("watchers still running 10 s after Close")
		}
		cancel()
	}
}
