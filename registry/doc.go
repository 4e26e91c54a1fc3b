// Package registry is the mailbox registry that replaces a Cyrus murder's
// mupdate master mailboxes.db: a Store holding one Entry per mailbox (several
// locations with a preferred primary, ACL with negative rights, uniqueid,
// uidvalidity, modseqs, mtime, name history, type flags), a registry-assigned
// revision on every change, tombstones on delete, a reverse-ACL index written
// in the same atomic step as the entry, a change feed (Watch) and slots.
//
// Sources of truth: docs/registry.md and docs/contracts.md ("Registry",
// "Users and visibility"), Cyrus 3.6.1's mailboxes.db layout for name order
// and entry fields (docs/cyrus-db.md §4.2: the "dbname" encoding whose byte
// order is the order of ctl_mboxlist -d, MUPDATE LIST and UPDATE) and Cyrus's
// ACL semantics (lib/acl_afs.c: rights of every matching identifier, minus
// the rights of every matching negative identifier).
//
// Backends are chosen by URL with Open:
//
//	leveldb:///var/lib/murder-bridge/registry   goleveldb, one owner process
//	etcd://127.0.0.1:2379,127.0.0.2:2379/murder  an etcd v3 cluster, key prefix /murder
//
// Backends register themselves; import
// github.com/murderkit/murderkit/registry/backends to link all of them.
// Every backend passes the one conformance suite in registry/registrytest.
package registry
