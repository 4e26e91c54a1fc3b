// Package bridge makes the registry (registry.Store) serve as the backend of
// murderkit's MUPDATE server (mupdate.Backend): the MUPDATE↔registry
// adapter, nothing more. The `murder-bridge serve` daemon is assembled from
// it and the other parts in cmd/murder-bridge (runDaemon).
//
// Source of truth: the behaviour of Cyrus 3.6.1's mupdate master towards real
// backends and frontends (mupdate.Apply holds its conflict rules), and the
// registry contract in docs/contracts.md ("Registry"):
//
//   - MUPDATE carries one location: a mailbox's preferred primary is sent;
//     ACTIVATE is an upsert that may move it (the new location becomes the
//     preferred primary, replacing the old one; other locations stay);
//   - RESERVE is create-if-absent (registry Create), so two backends
//     creating one name at the same moment can never both win;
//   - DELETE leaves a registry tombstone;
//   - the registry's Watch feeds UPDATE streams.
//
// Mapping between the two models (see Adapter):
//
//	MUPDATE                      registry Entry
//	reserved                     Type has FlagReserve (mbtype "z"), no ACL
//	active                       FlagReserve clear
//	"server!partition"           Locations[0] = {server, partition}
//	"server!"                    Locations[0] = {server, ""}
//	"part" (no '!')              Locations[0] = {"", part} (replicated murders)
//	ACL "id\trights\t..."        ACL []ACLItem in the same order
//
// Entries written through MUPDATE get mbtype "er" (email, remote) as in a
// Cyrus master's mailboxes.db; the other fields of an existing entry
// (uniqueid, uidvalidity, history from an import) are kept. Entries marked
// deleted (mbtype "d", from an imported backend database) are invisible.
package bridge
