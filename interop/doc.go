// Package interop holds only tests: the proof that murderkit's MUPDATE
// server (murder-bridge on the registry) and client interoperate with real
// Cyrus IMAP 3.6.1 murder processes, each compared with what a real Cyrus
// mupdate master does with the same input (docs/interop.md lists what is
// proven and how).
//
// Source of truth: the Debian cyrus-imapd 3.6.1 binaries, run by
// internal/murdertest. The tests fail, never skip, when they are missing.
package interop
