// Package saslauthd asks a running saslauthd (Cyrus SASL's password
// checking daemon) whether a user's password is right, over its UNIX
// socket, as libsasl does for `sasl_pwcheck_method: saslauthd`.
//
// Source of truth: docs/operations.md §10 ("SASL from imapd.conf"), which
// records the protocol as read from Cyrus SASL 2.1.28's lib/checkpw.c and
// checked against Debian's saslauthd 2.1.28:
//
//   - one connection per check to the socket (Cyrus's default
//     /var/run/saslauthd/mux, sasl_saslauthd_path overrides it);
//   - the request is four strings, each a 2-byte big-endian length and the
//     bytes without a terminator: user, password, service, realm. A user
//     holding '@' is split at the last one into user and realm; otherwise
//     the realm is the connection's (Cyrus's mupdate passes none: empty);
//     the whole request must fit 8192 bytes less 30;
//   - the answer is a 2-byte big-endian length (at least 2) and that many
//     bytes starting with "OK" (accepted) or anything else ("NO reason").
//
// SCRAM cannot be served this way (saslauthd only answers yes or no to a
// plain password), so an Auth offers PLAIN alone.
package saslauthd
