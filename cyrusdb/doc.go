// Package cyrusdb holds what the two Cyrus IMAP on-disk key-value formats,
// skiplist and twoskip, have in common: format detection, the key
// comparators, the typed corruption error, the description of an
// uncommitted crash tail, and the Reader and Writer interfaces that the
// packages skiplist and twoskip implement (and package dbfile opens by
// detected format).
//
// Source of truth: Cyrus IMAP lib/cyrusdb.c (cyrusdb_detect),
// lib/bsearch.c (bsearch_ncompare_raw, bsearch_ncompare_mbox),
// lib/cyrusdb_skiplist.c (compare_signed) and imap/cyr_dbtool.c (the "show"
// output that WriteShow reproduces), as restated in docs/cyrus-db.md §1
// and checked against the real Cyrus 3.6.1 tools.
//
// Nothing here is mailbox-specific: keys and values are bytes.
package cyrusdb
