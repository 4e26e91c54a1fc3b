// Package eventually waits, in tests and test harnesses, for a condition that
// another goroutine or process makes true. It polls the condition instead of
// sleeping a fixed time, so a test waits no longer than it must on a fast
// machine, still passes on a loaded one, and when it fails it says what it
// waited for and the last error it saw.
//
// Source of truth: this package's own contract (the doc comments of Wait,
// Nil and True); docs/testing.md says when a test may still sleep.
package eventually
