// Package mboxfile reads and writes the files that hold a Cyrus mailbox
// list: mailboxes.db files (skiplist or twoskip, values of any Cyrus
// version) and JSON and legacy dumps. A Source yields the mailboxes of such
// a file in the order Cyrus 3.6 `ctl_mboxlist -d` prints them; the writers
// produce each of the four kinds of dbfile.Kind (a dump of a source as
// Cyrus prints it, or files of converted entries); a RecordSpool sorts the
// records of a large database output with bounded memory
// (internal/extsort) and can be sealed as a checkpoint.
//
// Failures are *Error values whose Class says what failed (a source, a
// destination, a value the target cannot hold), so that a program maps
// them to its exit statuses; the message names the file and, for damage,
// the offset or the record's key.
//
// Source of truth: the formats as docs/cyrus-db.md and docs/formats.md
// describe them (read through packages dbfile and mboxlist), and the
// output of real Cyrus 3.6 `ctl_mboxlist -d` and `cyr_dbtool show`, which
// the mboxconv tests compare byte for byte.
package mboxfile
