// Package cyrusdbtest drives the real Cyrus 3.6.1 cyr_dbtool for the
// compatibility tests of the skiplist, twoskip and dbfile packages: it
// builds files with Cyrus's own engine and prints them with Cyrus's own
// "show". It fails the test (never skips) when the tools are missing.
//
// Source of truth: imap/cyr_dbtool.c behaviour as observed with the Debian
// cyrus-imapd 3.6.1 binaries.
package cyrusdbtest
