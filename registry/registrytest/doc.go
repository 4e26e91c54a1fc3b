// Package registrytest is the one conformance suite every registry.Store
// backend passes unchanged: `registrytest.Run(t, newStore)`.
//
// Source of truth: the registry.Store contract (registry.go) and
// docs/contracts.md (visibility, tombstones, users and domains).
//
// The tests, by concern: entries.go (create, get, update, delete, put,
// invalid names), tombstones.go (tombstones and their GC), list.go (prefix
// listing in Cyrus order), visible.go (what a user may see), import.go
// (bulk import), watch.go (snapshots and watch streams), slots.go (slot
// records) and trials.go (concurrent creators of one name).
package registrytest
