// Package cyrusimapd starts a real, standalone (non-murder) Cyrus IMAP 3.6.1
// imapd for shadow's tests and benchmarks: a `cyrmaster` with one imap (and
// optionally imaps) service on a free 127.0.0.1 port, a scratch imapd.conf,
// configdirectory, spool and sasldb in a temporary directory.
//
// Source of truth: the installed Debian binaries (/usr/sbin/cyrmaster,
// /usr/lib/cyrus/bin/imapd) and the backend configuration of
// internal/murdertest (docs/interop.md, "The harness"), of which this is the
// standalone subset. It fails the test (never skips) when Cyrus is not installed.
package cyrusimapd
