package stress

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// Rounds is MURDERKIT_ACLRACE_ROUNDS, or def when it is unset; anything but
// a positive count fails the test.
func Rounds(t testing.TB, def int) int {
	t.Helper()
	s := os.Getenv("MURDERKIT_ACLRACE_ROUNDS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("MURDERKIT_ACLRACE_ROUNDS=%q: want a positive count", s)
	}
	return n
}

// Hog starts runtime.NumCPU()+1 goroutines that spin until stop is closed;
// wg counts them, so the caller's close(stop) and wg.Wait() end them.
func Hog(stop <-chan struct{}, wg *sync.WaitGroup) {
	for range runtime.NumCPU() + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range 1 << 16 {
					x += i
				}
				_ = x
			}
		}()
	}
}
