package eventually

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitReturnsOnceTrue(t *testing.T) {
	var calls int
	err := Wait(10*time.Second, func() error {
		calls++
		if calls < 4 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("Wait = %v after %d calls, want nil after 4", err, calls)
	}
}

func TestWaitReturnsLastErrorAtTimeout(t *testing.T) {
	var calls int
	start := time.Now()
	err := Wait(50*time.Millisecond, func() error {
		calls++
		return fmt.Errorf("call %d", calls)
	})
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("Wait gave up after %v, before its timeout", took)
	}
	if err == nil || err.Error() != fmt.Sprintf("call %d", calls) {
		t.Fatalf("Wait = %v, want the last error (call %d)", err, calls)
	}
	if calls < 3 {
		t.Fatalf("only %d calls in 50 ms", calls)
	}
}

func TestStopEndsTheWait(t *testing.T) {
	exited := errors.New("cyrmaster exited")
	var calls int
	start := time.Now()
	err := Wait(10*time.Second, func() error {
		calls++
		if calls == 3 {
			return Stop(exited)
		}
		return errors.New("no greeting yet")
	})
	if err != exited || calls != 3 {
		t.Fatalf("Wait = %v after %d calls, want %v after 3", err, calls, exited)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Stop did not end the wait (%v)", took)
	}
}

// A condition made true by another goroutine is seen.
func TestWaitTrueSeesOtherGoroutine(t *testing.T) {
	var done atomic.Bool
	go func() {
		time.Sleep(20 * time.Millisecond) // the other side's work, the thing waited for
		done.Store(true)
	}()
	if !WaitTrue(10*time.Second, done.Load) {
		t.Fatal("WaitTrue missed the change")
	}
	if WaitTrue(10*time.Millisecond, func() bool { return false }) {
		t.Fatal("WaitTrue of a false condition = true")
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestNilAndTrueFailNamingWhat(t *testing.T) {
	r := &recorder{TB: t}
	Nil(r, 10*time.Millisecond, func() error { return errors.New("still 3 connections") })
	if !strings.Contains(r.failed, "still 3 connections") {
		t.Fatalf("Nil failed with %q, want the last error", r.failed)
	}
	r = &recorder{TB: t}
	True(r, 10*time.Millisecond, "the queue drains", func() bool { return false })
	if !strings.Contains(r.failed, "the queue drains") {
		t.Fatalf("True failed with %q, want what it waited for", r.failed)
	}
	r = &recorder{TB: t}
	Nil(r, time.Second, func() error { return nil })
	True(r, time.Second, "x", func() bool { return true })
	if r.failed != "" {
		t.Fatalf("a met condition failed: %q", r.failed)
	}
}
