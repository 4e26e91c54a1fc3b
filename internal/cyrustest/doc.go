// Package cyrustest runs the real Cyrus IMAP tools (Debian packages
// cyrus-imapd, cyrus-murder, cyrus-admin, cyrus-clients) for the project's
// compatibility tests, each in a scratch configuration of its own: the
// host's 3.6 (Debian bookworm), and 3.2, 3.10 and 3.12 (Debian bullseye,
// trixie, sid) inside chroots that scripts/build-chroots.sh builds
// (`make chroots`; docs/cyrus-versions.md).
//
// Source of truth: the installed binaries under /usr/lib/cyrus/bin of the
// host and of each chroot. A test that needs them fails (it does not skip)
// when they are missing: .ci/run installs them and builds the chroots, and a
// compatibility claim without the real peer is no claim.
//
// A chroot release's scratch configuration lives inside the chroot (under
// its /tmp) and is removed when the test ends; each tool runs in a private
// mount namespace in which the chroot has /proc and a small /dev, so no
// mount outlives the tool.
package cyrustest
