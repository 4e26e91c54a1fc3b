// Package follow mirrors an existing Cyrus mupdate master into the registry:
// murder-bridge's follow mode (`serve --follow HOST:PORT`), the parallel run
// of docs/runbook.md (step 3) in which the old master stays authoritative.
//
// Source of truth: the behaviour of Cyrus 3.6.1's own mupdate slave
// (imap/mupdate-slave.c, described in docs/mupdate.md, "Streaming and the
// slave") and docs/contracts.md ("Follow mode", "Registry"):
//
//   - a (re)connect authenticates, sends UPDATE and receives the full list;
//     the registry is then made equal to it, rewriting only what differs
//     (new and changed entries written, vanished ones deleted, leaving
//     tombstones); live MAILBOX/RESERVE/DELETE lines are applied in the
//     order they arrive, on the one goroutine that reads them, so no change
//     is lost, reordered or written twice;
//   - MUPDATE has no sequence numbers and a Cyrus master batches updates
//     every 5 s; a NOOP makes it flush them before its OK. The lag is the
//     age of the last completed NOOP round trip (the time the NOOP was sent:
//     every change the master had then is in the registry);
//   - a drop (EOF, error, unanswered NOOP) reconnects with exponential
//     backoff and resynchronises from a fresh full dump;
//   - entries in a slot the bridge is authoritative for (cutover, retired)
//     are neither rewritten nor deleted by the follower;
//   - while following, MUPDATE writes for mailboxes the old master owns are
//     refused (Guard), reads are served from the registry.
package follow
