// Package murdertest starts a real Cyrus IMAP murder (3.6.1, or another
// release in its chroot) on loopback for Go
// tests: a mupdate master, backends and frontends, unified servers
// (`mupdate_config: unified`, StartUnified) and replicating backend pairs
// (Options.SyncServer and SyncTo: sync_server, `sync_client -r`), each a real `cyrmaster`
// process with its own imapd.conf, cyrus.conf, configdirectory, spool and
// sasldb in a temporary directory, on free 127.0.0.1 ports.
//
// Source of truth: the installed Debian binaries (/usr/sbin/cyrmaster,
// /usr/lib/cyrus/bin/{mupdate,imapd,ctl_mboxlist,...}) and the murder
// configuration written out in docs/interop.md ("The harness"), which this
// package reproduces per test. Tests that use it fail (never skip) when the
// Cyrus tools are missing.
//
// Logs: Cyrus reports errors only through syslog(3), i.e. to /dev/log. Each
// instance runs in a private mount namespace (unshare -m) whose /dev is a
// small tmpfs with the usual device nodes and a /dev/log that is a bind mount
// of a datagram socket this package reads; so every instance's syslog lands in
// its own Log() and in <dir>/syslog.log, nothing on the host is touched, and
// parallel murders never mix their logs.
//
// Options.Release runs another Cyrus release (3.2, 3.10, 3.12) from its
// Debian chroot (internal/cyrustest, docs/cyrus-versions.md): the instance's
// directory is inside the chroot, and its processes run chrooted in the same
// kind of private mount namespace (the chroot's /dev and /proc mounted there
// only), still on 127.0.0.1 ports the host's tests reach.
//
// Relay records what one Cyrus instance sends its MUPDATE master, line by
// line, and passes it through unchanged (Tee compares two masters).
//
// Everything started here is stopped by t.Cleanup: SIGTERM to the cyrmaster,
// then SIGKILL to its whole process group.
package murdertest
