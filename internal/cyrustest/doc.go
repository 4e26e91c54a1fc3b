// Package cyrustest runs the real Cyrus IMAP 3.6 tools (Debian packages
// cyrus-imapd, cyrus-murder, cyrus-admin, cyrus-clients) for the project's
// compatibility tests, each in a scratch configuration of its own.
//
// Source of truth: the installed binaries under /usr/lib/cyrus/bin. A test
// that needs them fails (it does not skip) when they are missing: .ci/run
// installs them, and a compatibility claim without the real peer is no claim.
package cyrustest
