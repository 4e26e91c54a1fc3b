// Package mboxlist is the mailbox entry model of Cyrus IMAP's mailboxes.db:
// the keys and values of every Cyrus version (2.x `type partition acl`,
// 2.5–3.4 dlist values keyed by internal name with `$RACL`/`$RUNQ` keys,
// 3.6+ `N`/`I`/`A` keys), mailbox names (internal names, 3.6 dbnames,
// modified UTF-7), ACL strings and rights, the JSON that Cyrus 3.6
// `ctl_mboxlist -d` prints and `-u` reads, and the legacy dump lines of
// 2.4, 2.5, 3.0–3.4 and 3.6 `-u -L`.
//
// Sources of truth: Cyrus IMAP's imap/mboxlist.c, imap/mboxname.c,
// imap/dlist.c, imap/ctl_mboxlist.c and lib/prot.c at the tags
// cyrus-imapd-2.4.17, 2.5.17, 3.0.0, 3.2.0, 3.4.0 and 3.6.1, as restated in
// docs/cyrus-db.md §4 and §5, and the real Debian 3.6.1 tools, against
// which the tests check every byte (cyrus_test.go, cyrus_old_test.go).
//
// The model is [Entry]: version-neutral, in Cyrus 3.6 numbering. Readers
// ([DecodeRecord], [JSONDecoder], [LegacyDecoder]) turn bytes of
// any version into entries; writers ([EncodeRecords], [JSONEncoder],
// [LegacyLine]) turn entries back into the bytes a given [Version] of Cyrus
// writes. [Losses] names what a conversion to an older version cannot keep.
//
// Decoding never panics on bad input: every error is a [*ValueError] (naming
// the record key and the byte position within the value) or a
// [*DumpError] (naming the line and the offset in the dump), wrapping one of
// the sentinels [ErrSyntax], [ErrRange] or [ErrUnknown].
package mboxlist
