// Package memory is an in-memory mupdate.Backend for tests and benchmarks.
//
// Source of truth: the Backend contract in package mupdate (its doc
// comments) and the conflict rules of mupdate.Apply. Nothing is persisted.
//
// Writes take one mutex for a map update and a non-blocking hand-off to each
// watcher. Snapshots share an immutable sorted slice that is rebuilt, outside
// the mutex, only after the list changed; a reader of a snapshot never holds
// the mutex, so dumps do not stall writers. Each watcher gets a pending list
// (no preallocation); one that falls more than WatchBuffer changes behind is ended with
// mupdate.ErrLagged rather than slowing writers. A bounded history of recent
// changes lets a watch start from an older revision (older than the history:
// mupdate.ErrCompacted).
package memory
