// Package wire is the MUPDATE codec, kept apart from the commands: it reads
// client commands (server side) and server responses (client side), and
// writes both, byte for byte as Cyrus IMAP 3.6.1 does.
//
// Source of truth: RFC 3656 §3–§4 and Cyrus 3.6.1's parser (imap/mupdate.c
// docmd, imap/imapparse.c getword/getxstring/eatline), as observed in the
// transcripts under mupdate/testdata/transcripts. In short:
//
//   - a command is `tag SP word [SP string]... CRLF`; the tag and command are
//     words (any bytes but whitespace, '(', ')', '"'); command names are
//     case-insensitive;
//   - arguments are strings only: quoted ("...", backslash escapes the next
//     byte, no CR/LF) or literals {n} (answered with "+ go ahead") and {n+};
//     atoms are refused ("Extra arguments"/"Missing arguments"/"Badly formed
//     arguments" as Cyrus words it) — except, deliberately, for
//     AUTHENTICATE, whose mechanism and initial response may be atoms;
//   - after a BAD the rest of the line is skipped, {n+} literals included;
//   - data responses are `{n+}` literals, status texts quoted strings.
//
// Limits (Limits) bound every word, string, literal and command; input
// over a limit is a *TooBigError after which the connection must close.
// Decoders never panic on any input (see the fuzz targets).
package wire
