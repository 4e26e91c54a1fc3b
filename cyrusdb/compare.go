package cyrusdb

import "bytes"

// CompareRaw is twoskip's order (bsearch_ncompare_raw): memcmp of unsigned
// bytes on the common prefix, then the shorter key first.
func CompareRaw(a, b []byte) int { return bytes.Compare(a, b) }

// CompareSigned is skiplist's order (compare_signed) on x86: bytes compared
// as C signed char, so 0x80..0xFF sort before 0x00..0x7F; then the shorter
// key first.
func CompareSigned(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if int8(a[i]) < int8(b[i]) {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// mboxTable maps bytes for CompareMbox (bsearch_ncompare_mbox).
var mboxTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
	}
	t['\t'], t['\n'] = 1, 1
	t['.'] = 2
	for c := 1; c <= 8; c++ {
		t[c] = byte(c + 2)
	}
	return t
}()

// CompareMbox is the order Cyrus ≤ 3.4 uses for mailboxes.db with
// improved_mboxlist_sort: yes (CYRUSDB_MBOXSORT): '.' sorts just after NUL,
// so children follow their parent; then the shorter key first.
func CompareMbox(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := mboxTable[a[i]], mboxTable[b[i]]
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// Compare orders two keys as format f does by default: skiplist signed,
// twoskip (and Unknown) raw.
func Compare(f Format, a, b []byte) int {
	if f == Skiplist {
		return CompareSigned(a, b)
	}
	return CompareRaw(a, b)
}
