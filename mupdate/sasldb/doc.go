// Package sasldb reads Cyrus SASL's sasldb2 — the file libsasl's sasldb
// auxprop plugin keeps secrets in (`sasl_pwcheck_method: auxprop`,
// `sasl_auxprop_plugin: sasldb`, `sasl_sasldb_path`, default
// /etc/sasldb2) — read-only, in pure Go, and checks MUPDATE passwords
// against it as Cyrus's `mupdate -m` does.
//
// Source of truth: docs/operations.md §10 ("sasldb") and
// docs/sasldb-format.md, which record the Berkeley DB 5.3 hash layout as
// read from files Debian's saslpasswd2 writes and checked key by key
// against db5.3_dump and sasldblistusers2 (this package's tests run both):
//
//   - page 0 is the hash metadata page: magic 0x061561 in the file's byte
//     order (which decides the byte order of every other field), version
//     8 to 10, page size, last page, max_bucket and spares[32];
//   - bucket b lives on page b + spares[ceil(log2(b+1))] and its chain of
//     hash pages (type 13, or 2 for version 8) is linked by next_pgno; a
//     page holds an index of 16-bit offsets, alternately key and data;
//   - an item is 1 (bytes follow, length from the neighbouring offset) or 3
//     (off-page: total length and first page of an overflow chain, type 7,
//     whose header's hf_offset is the bytes on that page);
//   - a key is `user NUL realm NUL property`; `userPassword` holds the
//     password in clear.
//
// libsasl opens the file without a Berkeley DB environment (no locking)
// and saslpasswd2 rewrites pages in place, so a reader can see a page
// half written: File re-reads the whole file when its size or mtime
// change, and a read that fails to parse or that races a change is tried
// again a few times before it is reported as an error — never taken as an
// answer.
package sasldb
