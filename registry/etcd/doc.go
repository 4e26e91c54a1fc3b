// Package etcd is the registry backend on etcd v3 (`etcd://host:port/prefix`),
// the one to use when several machines hold the registry and none of them
// may be a single point of failure; every server of a murder can run its own
// member (embedded through registry/etcd/member, or Debian's etcd-server).
//
// Source of truth: the registry.Store contract (the conformance suite in
// registry/registrytest) and the key layout in etcd.go, described in
// docs/registry.md ("Stored entry forms" names every value form read). Each
// change is one etcd transaction holding the entry key and its reverse-ACL
// index row, compared on the ModRevisions the writer last saw (CAS); the
// entry's revision is its key's ModRevision, and Watch follows etcd's own
// revisions, so every bridge of a cluster sees the same order of changes.
package etcd
