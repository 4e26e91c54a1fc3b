// Package cutover makes a bridge authoritative for the mailboxes of
// cut-over slots while keeping the old Cyrus mupdate master informed.
//
// Source of truth: docs/runbook.md steps 5 and 6 (cutover, rollback) and
// docs/registry.md ("Slots"); the MUPDATE commands sent to the old master
// are those of docs/mupdate.md ("Commands and answers"), checked
// against a real Cyrus 3.6.1 master in interop/cutover_test.go.
//
// WriteThrough wraps the bridge's MUPDATE backend (normally the follow
// Guard, which refuses writes outside cut-over slots). A write for a
// mailbox in a slot in state cutover or retired is applied to the registry
// and passed on to the old master with the MUPDATE client, so old frontends
// keep seeing it and a rollback loses nothing:
//
//   - while anything is queued, RESERVE or ACTIVATE of a new name (a create;
//     `ctl_mboxlist -m` pushes with ACTIVATE) and DELETE are refused with
//     NO "... try later": 3.6's delayed delete is DELETE then RESERVE
//     DELETED.*, a rename starts with RESERVE of the new name.
//   - RESERVE (a create) goes to the old master first: if the master refuses
//     (the name exists there) the create is refused; if the master cannot be
//     reached, or any change is still queued for it, the create is refused
//     with NO "... try later", so the old master can never hand the same new
//     name to another backend.
//   - every other change is written to the registry first, then sent to the
//     master; when the master is unreachable (or earlier changes are still
//     queued) it goes to a durable queue (a local leveldb), drained in order
//     when the master answers again. A NO from the master for a queued change
//     is logged and counted (Rejected), never retried forever.
//
// Retired slots are not written through (the old master no longer serves
// them). Which slots are cut over is read from the registry (cached
// SlotTTL); the follow Guard decides authority the same way.
//
// The queue is local to one bridge: with several bridges over etcd, each
// writes through (and queues) the changes its own clients send.
package cutover
