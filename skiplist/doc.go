// Package skiplist reads and writes Cyrus IMAP skiplist files (the
// mailboxes.db backend of Cyrus 2.x and still readable by every 3.x).
//
// Source of truth: Cyrus IMAP lib/cyrusdb_skiplist.c, as restated in
// docs/cyrus-db.md §2 and checked against the real Cyrus 3.6.1
// tools in this package's tests. All integers are big-endian u32; records
// are 4-byte aligned; there are no checksums.
//
//	header (48 bytes)
//	  0  magic "\xA1\x02\x8B\x0Dskiplist file\0\0\0"  20
//	 20  version (1)   24 minor (2)   28 maxlevel (20)   32 curlevel
//	 36  listsize (as of the last checkpoint)
//	 40  logstart (end of the INORDER section)
//	 44  last_recovery (unix time)
//	node record (DUMMY 257 at 48, INORDER 1, ADD 2)
//	  type, keylen, key (pad 4), datalen, data (pad 4),
//	  level pointers (u32 offsets), terminator FFFFFFFF
//	DELETE 4: type, offset of the node removed
//	COMMIT 255: type
//	file = header | DUMMY | INORDER* (sorted) | logstart: {ADD|DELETE}+ COMMIT ... | crash tail?
//
// # Reading
//
// Cyrus rewrites forward pointers in place before a transaction commits, so
// after a crash the pointers already link uncommitted records in. This
// reader never follows pointers: it streams the INORDER section (checking
// that keys strictly increase — without checksums, order is the only
// evidence of a damaged key — and that it ends exactly at logstart) and
// replays the committed transactions of the log (ADD sets, DELETE removes
// the key of the node record it names; a DELETE naming anything but an
// earlier node record is corruption). Memory holds only the keys the log
// changed (values are re-read from the file when iterated), plus a 1 MiB
// read cache per stream. Records after the last COMMIT with no COMMIT of
// their own are an uncommitted crash tail (Tail), not an error; damage
// before the last COMMIT is a *cyrusdb.CorruptError with its offset.
//
// # Reading a file a running Cyrus writes
//
// Open uses pread and takes no lock. It sees the transactions committed
// when it replayed the log at Open. Cyrus only appends to the log and
// rewrites pointers (which this reader ignores), so that view stays valid
// until a checkpoint or recovery renames a new file over the path and
// truncates the old one; a reader opened by path notices (inode changed,
// file shrank) after iterating and returns a *cyrusdb.ChangedError
// (errors.Is(err, cyrusdb.ErrChanged)): open the path again.
//
// # Writing
//
// Create writes checkpoint form (docs/cyrus-db.md §2, "How we write"): header, DUMMY
// with 20 levels, INORDER records in signed-char order with random levels,
// logstart = file size, no COMMIT. Temp file, fsync, rename over the target
// under a POSIX write lock on the old file.
//
// Example:
//
//	db, err := skiplist.Open("/var/lib/imap/mailboxes.db", nil)
//	if err != nil { ... }
//	defer db.Close()
//	err = db.Iterate(func(k, v []byte) error { fmt.Printf("%s\t%s\n", k, v); return nil })
package skiplist
