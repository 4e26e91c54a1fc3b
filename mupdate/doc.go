// Package mupdate holds the shared model of the MUPDATE protocol (RFC 3656)
// as Cyrus IMAP 3.6 speaks it: the mailbox record a murder master keeps
// (name, state, location, ACL string), the write requests backends send
// (RESERVE, ACTIVATE, DEACTIVATE, DELETE), the conflict rules of Cyrus's
// master ([Apply]), the order in which Cyrus dumps its list ([CompareNames]),
// and the small [Backend] interface a server stores its list in.
//
// Source of truth: RFC 3656 and the behaviour of the real Cyrus 3.6.1
// `mupdate -m` master (imap/mupdate.c, cmd_set and friends), as recorded in
// the project's docs/mupdate.md and the transcripts in testdata/transcripts.
//
// Sub-packages:
//
//   - wire: the codec (commands, responses, strings, literals, limits)
//   - mupdateserver: the server (banner, SASL, commands, UPDATE streaming)
//   - mupdateclient: the client (what follow mode and write-through use)
//   - memory: an in-memory Backend for tests and benchmarks
//   - creds: the credentials file (`name:secret` lines)
//   - backendtest: a conformance suite every Backend passes
package mupdate
