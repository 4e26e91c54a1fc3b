// Package mupdateclient is a MUPDATE client (RFC 3656) for Cyrus IMAP 3.6
// masters and for our own server: what murder-bridge's follow mode and
// write-through use.
//
// Source of truth: Cyrus 3.6.1's imap/mupdate-client.c (how a Cyrus client
// talks: every argument a {n+} literal, AUTHENTICATE "MECH" {n+}, bare
// base64 SASL lines) and the transcripts in ../testdata/transcripts.
//
// A Client is one connection. Commands are sequential (a mutex serialises
// them); while Update streams, only Noop (from another goroutine) and
// Close may be used.
//
//	c, _ := mupdateclient.Dial(ctx, "127.0.0.1:3905", nil)
//	defer c.Close()
//	_ = c.Authenticate(ctx, "murder", "secret", "")
//	m, ok, _ := c.Find(ctx, "user.alice")
//	_ = c.Update(ctx, nil, func(ev mupdateclient.Event) error { ...; return nil })
package mupdateclient
