// Package twingen generates seeded, reproducible histories of real Cyrus
// murder operations for the twin-murder harness (interop/twins_test.go,
// docs/twins.md): IMAP commands as users and as the admin (CREATE of deep
// hierarchies and modified UTF-7 names, RENAME of folder trees and of whole
// users, DELETE, SETACL/DELETEACL with users, group: identifiers, anyone and
// negative rights, SUBSCRIBE, special-use CREATE, XFER between backends,
// LOCALDELETE) and Cyrus tool runs (`ctl_mboxlist -m` re-pushes, backend
// restarts).
//
// Source of truth: a Generator's output depends only on its seed, its
// options and the model of the murder it keeps (which mailboxes exist, on
// which backend, which ACL identifiers were set); the model changes only by
// Apply, with the result both twins gave. Two murders driven by the same
// seed therefore receive the identical sequence of operations. What Cyrus
// accepts and refuses is Cyrus's own (3.6.1: imap/imapd.c, imap/mboxlist.c):
// the generator mostly picks operations valid for the state, and on
// purpose some Cyrus refuses (DELETE of a folder with children), because
// both twins must refuse them alike.
package twingen
