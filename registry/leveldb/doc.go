// Package leveldb is the embedded registry backend on goleveldb
// (github.com/syndtr/goleveldb), the default (`leveldb:///path`).
//
// Source of truth: the registry.Store contract and the key layout in
// leveldb.go. One process owns the directory (leveldb's LOCK file): a second
// opener gets an error naming the path and wrapping registry.ErrUnavailable.
// Every change is one leveldb batch holding the entry, its reverse-ACL index
// rows, the revision counter and the change-log record that feeds Watch, so
// a crash leaves either all of them or none (the journal replays whole
// batches only).
package leveldb
