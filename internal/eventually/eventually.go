package eventually

import (
	"errors"
	"testing"
	"time"
)

// Pauses between two calls of the condition: from firstPause, doubled after
// each call up to maxPause.
const (
	firstPause = time.Millisecond
	maxPause   = 100 * time.Millisecond
)

// Wait calls f until it returns nil or timeout has passed, and returns nil or
// the last error f returned. f is called at least once, and once more after
// the timeout has passed if the previous call was earlier, so a condition
// that became true in the last pause is not missed. An error made by Stop
// ends the wait at once (the condition can no longer come true: the process
// that would make it true has exited); Wait returns the error Stop wrapped.
func Wait(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	pause := firstPause
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop stopError
		if errors.As(err, &stop) {
			return stop.err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, maxPause)
	}
}

// Nil is Wait that fails t, with f's last error, when f has not returned nil
// within timeout.
func Nil(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := Wait(timeout, f); err != nil {
		t.Fatalf("not within %v: %v", timeout, err)
	}
}

// True waits until cond returns true; it fails t, naming what it waited for,
// when cond has not returned true within timeout.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !WaitTrue(timeout, cond) {
		t.Fatalf("not within %v: %s", timeout, what)
	}
}

// WaitTrue is Wait for a condition without an error: it reports whether cond
// returned true within timeout.
func WaitTrue(timeout time.Duration, cond func() bool) bool {
	return Wait(timeout, func() error {
		if cond() {
			return nil
		}
		return errFalse
	}) == nil
}

// Stop wraps err so that Wait returns it at once instead of polling on.
func Stop(err error) error { return stopError{err} }

type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }
func (e stopError) Unwrap() error { return e.err }

type falseError struct{}

func (falseError) Error() string { return "condition false" }

var errFalse error = falseError{}
