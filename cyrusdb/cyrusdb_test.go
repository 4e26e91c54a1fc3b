package cyrusdb

import (
	"bytes"
	"errors"
	"sort"
	"testing"
)

func TestCorruptErrorText(t *testing.T) {
	e := &CorruptError{Format: Twoskip, Offset: 1234, What: "head crc32 mismatch"}
	if got, want := e.Error(), "twoskip: offset 1234 (0x4D2): head crc32 mismatch"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var err error = &ChangedError{Format: Skiplist, Path: "/x", What: "inode changed"}
	if !errors.Is(err, ErrChanged) {
		t.Fatal("ChangedError does not match ErrChanged")
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		want Format
	}{
		{SkiplistMagic, Skiplist},
		{TwoskipMagic, Twoskip},
		{[]byte("\xa1\x02\x8b\x0dtwomfile\x00\x00\x00\x00\x00\x00\x00\x00"), Unknown},
		{TwoskipMagic[:15], Unknown},
		{nil, Unknown},
		{[]byte("key\tvalue\nkey2\tvalue2\n"), Unknown},
	} {
		if got := Detect(tc.head); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
}

// The orders real Cyrus 3.6.1 printed (docs/cyrus-db.md §1.3).
func TestComparatorOrders(t *testing.T) {
	keys := func() [][]byte {
		return [][]byte{[]byte("a~"), []byte("a\xc3\xa9"), []byte("aA"), []byte("a.b"), []byte("a b")}
	}
	for _, tc := range []struct {
		name string
		cmp  func(a, b []byte) int
		want []string
	}{
		{"raw", CompareRaw, []string{"a b", "a.b", "aA", "a~", "a\xc3\xa9"}},
		{"signed", CompareSigned, []string{"a\xc3\xa9", "a b", "a.b", "aA", "a~"}},
	} {
		k := keys()
		sort.Slice(k, func(i, j int) bool { return tc.cmp(k[i], k[j]) < 0 })
		for i := range k {
			if string(k[i]) != tc.want[i] {
				t.Fatalf("%s order = %q, want %q", tc.name, k, tc.want)
			}
		}
	}
	k := [][]byte{[]byte("ab"), []byte("a-b"), []byte("a b"), []byte("a.b")}
	sort.Slice(k, func(i, j int) bool { return CompareMbox(k[i], k[j]) < 0 })
	if got := string(bytes.Join(k, []byte(","))); got != "a.b,a b,a-b,ab" {
		t.Fatalf("mbox order = %s", got)
	}
	if CompareSigned([]byte("a"), []byte("ab")) >= 0 || CompareMbox([]byte("ab"), []byte("a")) <= 0 {
		t.Fatal("shorter key must sort first")
	}
}
