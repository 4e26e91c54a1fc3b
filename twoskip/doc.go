// Package twoskip reads and writes Cyrus IMAP twoskip files (the default
// backend of mailboxes.db since Cyrus 2.5).
//
// Source of truth: Cyrus IMAP lib/cyrusdb_twoskip.c, as restated in
// docs/cyrus-db.md §3 and checked against the real Cyrus 3.6.1
// tools (cyr_dbtool show/consistent/set/delete/repack/damage) in this
// package's tests. All integers are big-endian.
//
//	header (64 bytes)
//	  0  magic "\xA1\x02\x8B\x0Dtwoskip file\0\0\0\0"  20
//	 20  version u32 (1)
//	 24  generation u64     (+1 on every checkpoint)
//	 32  num_records u64    (live records at the last commit)
//	 40  repack_size u64
//	 48  current_size u64   (file size at the last commit)
//	 56  flags u32          (1 = DIRTY: a write transaction is open)
//	 60  crc32 u32          (of bytes 0..59)
//	record (8-aligned)
//	  type u8 ('=' DUMMY, '+' RECORD, '-' DELETE, '$' COMMIT)
//	  level u8, keylen u16 (0xFFFF: u64 follows), vallen u32 (all ones: u64 follows)
//	  [u64 keylen] [u64 vallen]
//	  slot[0..level] u64 pointers
//	  crc32 head u32, crc32 tail u32 (of key‖value‖padding)
//	  key, value, zero padding to 8
//	DUMMY at 64 (level 31, 272 bytes), records from 336, every write
//	transaction ends in a COMMIT. 3.2+ writers may put 8-byte BLANK units
//	(" BLANK\x07\xA0") between records.
//
// # Reading
//
// The reader follows logical level 0 from the DUMMY with the dual-pointer
// rule (of slot[0] and slot[1], the larger one below current_size), so data
// past current_size — an uncommitted transaction, a crash tail — is never
// seen; such a tail is reported by Tail, not as an error. Every record
// reached is bounds-checked against current_size, its head CRC and (unless
// Options.SkipTailCRC) its tail CRC are verified, keys must strictly
// increase, a DELETE must point backwards, and the number of records must
// equal num_records: any violation is a *cyrusdb.CorruptError naming the
// offset. (Along level 0 file offsets do not increase in a file Cyrus has
// written to — a record appended later is linked between older ones — so
// pointer loops are caught by the strictly increasing keys, the backwards
// DELETE rule and a step bound.) Memory is a 1 MiB read cache plus the
// largest record; it does not grow with the number of records.
//
// # Reading a file a running Cyrus writes
//
// Open reads with pread and takes no lock, so it never blocks Cyrus. A
// reader sees the state of the last commit before Open (current_size read
// at Open) as long as Cyrus does not rewrite the file under it. Cyrus
// rewrites record heads in place on every commit, recovery truncates, and a
// checkpoint renames a new file over the path; so after iterating (and on
// any damage found) a reader opened by path re-reads the header and the
// path: if the generation, current_size or flags (DIRTY) changed, the file shrank, or the
// path now names another inode, the result is a *cyrusdb.ChangedError
// (errors.Is(err, cyrusdb.ErrChanged)) and the caller should read again.
// Records already passed to the callback may then be inconsistent.
//
// # Writing
//
// Create writes a file in checkpoint form (docs/cyrus-db.md §3, "How we write"): header,
// DUMMY, the records in raw-memcmp order with random levels, one COMMIT, no
// BLANK records (2.5 and 3.0 cannot skip them), generation 1 or the old
// file's generation + 1. It streams to a temp file beside the target,
// fsyncs, and renames it over the target holding a POSIX write lock on the
// old file.
//
// Example:
//
//	db, err := twoskip.Open("/var/lib/cyrus/mailboxes.db", nil)
//	if err != nil { ... }
//	defer db.Close()
//	err = db.Iterate(func(k, v []byte) error { fmt.Printf("%s\t%s\n", k, v); return nil })
package twoskip
