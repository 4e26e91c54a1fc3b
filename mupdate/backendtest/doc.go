// Package backendtest is the conformance suite every mupdate.Backend
// passes: Cyrus's master rules (mupdate.Apply) applied atomically, lookups,
// snapshots in Cyrus's order that neither see later writes nor stall
// writers, and a watch that delivers exactly the changes after a revision.
//
// Source of truth: the Backend contract documented in package mupdate.
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) mupdate.Backend { return memory.New(nil) })
//	}
package backendtest
