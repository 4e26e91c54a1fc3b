package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/murderkit/murderkit/cyrusdb"
)

// allowCrashTail is --allow-crash-tail (every command that reads a
// database file).
var allowCrashTail bool

// addCrashTailFlag adds --allow-crash-tail to fs (the root's persistent
// flags).
func addCrashTailFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&allowCrashTail, "allow-crash-tail", false,
		"read a skiplist or twoskip file whose uncommitted tail is more than half of it (its committed state only)")
}

// An uncommitted crash tail is the write transaction a crash (or a live
// writer) left without COMMIT: not an error, Cyrus discards it on its next
// recovery. That holds for a tail that is small next to the file. A tail
// that is most of the file is not an interrupted transaction on a live
// database but a file whose commits are missing or damaged (a damaged
// COMMIT, a file cut short inside one big transaction): its committed
// state leaves out most of what the file holds. Such a file is refused
// unless --allow-crash-tail is given. The threshold is half the file.

// largeTail reports whether t is more than half of a file of size bytes.
func largeTail(t *cyrusdb.Tail, size int64) bool { return t != nil && size > 0 && t.Length*2 > size }

// tailShare says how much of the file the tail is.
func tailShare(t *cyrusdb.Tail, size int64) string {
	return fmt.Sprintf("%d of the file's %d bytes (%.0f%%) left out: %s", t.Length, size, 100*float64(t.Length)/float64(size), t.Note)
}

// checkTail refuses a database file whose uncommitted tail is more than
// half of it, unless --allow-crash-tail. The error is damage (exit 3).
func checkTail(path string, db cyrusdb.Reader) error {
	t := db.Tail()
	if t == nil {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !largeTail(t, st.Size()) || allowCrashTail {
		return nil
	}
	return cyrusdb.Corruptf(db.Format(), t.Offset,
		"uncommitted tail is most of the file, not a crash tail: %s; the committed state leaves it out (--allow-crash-tail reads the committed state anyway)",
		tailShare(t, st.Size()))
}
