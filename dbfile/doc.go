// Package dbfile opens a Cyrus key-value file in whichever on-disk format
// its header names (skiplist or twoskip), and creates one in a chosen
// format. It is the entry point the mboxconv commands use.
//
// Source of truth: Cyrus IMAP lib/cyrusdb.c (cyrusdb_detect: the first 16
// bytes decide), docs/cyrus-db.md §1.1. The formats themselves are in
// packages skiplist and twoskip; see their documentation for what a reader
// of a file that a running Cyrus writes sees.
package dbfile
