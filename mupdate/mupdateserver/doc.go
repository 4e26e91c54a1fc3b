// Package mupdateserver is a MUPDATE master (RFC 3656) that real Cyrus IMAP
// 3.6 backends, frontends (mupdate slaves) and tools (ctl_mboxlist -m,
// mupdatetest) talk to as they would to Cyrus's own `mupdate -m`.
//
// Source of truth: Cyrus 3.6.1's imap/mupdate.c and the transcripts of the
// real master in ../testdata/transcripts, replayed byte for byte by this
// package's golden tests; the deliberate differences are listed in
// docs/mupdate.md and in golden_test.go.
//
// The server keeps no list of its own: a mupdate.Backend stores it (see
// package memory, and the registry adapter). Per connection one goroutine
// reads commands; an UPDATE client gets the full list from a
// Backend.Snapshot (writers are never stalled by a dump), then every change
// from Backend.Watch at once (no 5 s batching). Changes go through a
// per-client queue drained by a streamer goroutine, so a slow client never
// blocks writers or other clients. The queue is bounded in bytes per client
// (StreamMaxBytes) and over all clients (StreamTotalBytes; the clients
// holding most are dropped first) as well as in changes (StreamQueue): a
// client that falls past a bound is dropped at once with a log line, a
// counter (Server.Stats), `* BYE` and a closed connection (a Cyrus slave
// then reconnects and resyncs from a full dump: imap/mupdate-slave.c). A
// streaming NOOP answers OK only after every change committed before it was
// flushed (frontends rely on this).
//
// Usage:
//
//	st, _ := creds.Load("/etc/murder-bridge/credentials")
//	srv, _ := mupdateserver.New(mupdateserver.Config{
//		Backend: memory.New(nil), Auth: st, Admins: []string{"murder"},
//		ServerName: "mupdate.example.com",
//	})
//	ln, _ := net.Listen("tcp", "127.0.0.1:3905")
//	go srv.Serve(ctx, ln)
package mupdateserver
