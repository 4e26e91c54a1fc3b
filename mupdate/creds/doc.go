// Package creds reads the MUPDATE server's credentials file and verifies
// SASL PLAIN passwords and serves SCRAM stored keys from it.
//
// Source of truth: docs/contracts.md ("Credentials") and RFC 5802 (SCRAM) /
// RFC 7677 (SCRAM-SHA-256). Format, one entry a line:
//
//	# comment (also blank lines)
//	name:password                          a plain password (no {SCHEME} prefix)
//	name:{PLAIN}password                   the same, explicit (for passwords starting with '{')
//	name:{SCRAM-SHA-256}SALT$ITER$STOREDKEY$SERVERKEY
//	name:{SCRAM-SHA-1}...   name:{SCRAM-SHA-512}...
//
// SALT, STOREDKEY and SERVERKEY are standard base64 (as in RFC 5802's
// SaltedPassword derivation: StoredKey = H(HMAC(SaltedPassword,"Client Key")),
// ServerKey = HMAC(SaltedPassword,"Server Key")), ITER the PBKDF2 iteration
// count (at least 4096). A name may appear on several lines, one per scheme.
// Hash writes such a line's secret.
//
// Which mechanisms work for whom:
//   - a plain password: PLAIN and every SCRAM-SHA-* mechanism (keys are
//     derived once, with a random salt, and cached);
//   - a {SCRAM-SHA-x} hash: SCRAM-SHA-x, and PLAIN too (the password the
//     client sends is run through the same derivation and compared with
//     StoredKey in constant time).
//
// Passwords are SASLprep'ed as SCRAM requires (RFC 4013) before any
// derivation. Nothing here logs a secret.
package creds
