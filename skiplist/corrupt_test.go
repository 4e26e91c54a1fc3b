package skiplist

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/cyrusdb/cyrusdbtest"
)

// build writes records with our writer and returns the file's bytes.
func build(t testing.TB, recs []cyrusdbtest.Pair) []byte {
	return fileFormat.Build(t, &cyrusdb.WriteOptions{Seed: 7, Now: 1700000000}, recs)
}

type rec struct {
	off, size int64
	typ       uint32
	keyOff    int64
	ptrOff    int64
}

// scan lists the records in file order (test helper for well-formed files).
func scan(raw []byte) []rec {
	var rs []rec
	for off := int64(firstRecord); off+4 <= int64(len(raw)); {
		typ := be.Uint32(raw[off:])
		switch typ {
		case typeCommit:
			rs = append(rs, rec{off: off, size: 4, typ: typ})
			off += 4
		case typeDelete:
			rs = append(rs, rec{off: off, size: 8, typ: typ})
			off += 8
		default:
			kl := int64(be.Uint32(raw[off+4:]))
			d := off + 8 + r4(kl)
			dl := int64(be.Uint32(raw[d:]))
			p := d + 4 + r4(dl)
			e := p
			for be.Uint32(raw[e:]) != terminator {
				e += 4
			}
			rs = append(rs, rec{off: off, size: e + 4 - off, typ: typ, keyOff: off + 8, ptrOff: p})
			off = e + 4
		}
	}
	return rs
}

func readAll(raw []byte) ([]byte, *cyrusdb.Tail, error) {
	db, err := NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	err = cyrusdb.WriteShow(&buf, db)
	return buf.Bytes(), db.Tail(), err
}

// withLog appends committed log transactions to a checkpoint-form file:
// ADD of a new key, then DELETE of the first record, each with a COMMIT.
func withLog(base []byte) []byte {
	b := bytes.Clone(base)
	rs := scan(base)
	add := func(k, v string) {
		w := func(x uint32) { b = be.AppendUint32(b, x) }
		w(typeAdd)
		w(uint32(len(k)))
		b = append(b, k...)
		b = append(b, make([]byte, r4(int64(len(k)))-int64(len(k)))...)
		w(uint32(len(v)))
		b = append(b, v...)
		b = append(b, make([]byte, r4(int64(len(v)))-int64(len(v)))...)
		w(0)
		w(terminator)
	}
	add("user.zzlog", "logged")
	b = be.AppendUint32(b, typeCommit)
	b = be.AppendUint32(b, typeDelete)
	b = be.AppendUint32(b, uint32(rs[0].off))
	b = be.AppendUint32(b, typeCommit)
	return b
}

func TestCorruptTable(t *testing.T) {
	base := build(t, cyrusdbtest.SampleRecords(20))
	rs := scan(base)
	logged := withLog(base)
	lrs := scan(logged)
	n := len(lrs)
	delRec := lrs[n-2] // the DELETE
	cases := []struct {
		name string
		raw  []byte
		mod  func(b []byte) []byte
		off  int64
	}{
		{"bad magic", base, func(b []byte) []byte { b[6] = 'X'; return b }, 0},
		{"wrong version", base, func(b []byte) []byte { be.PutUint32(b[offVersion:], 2); return b }, offVersion},
		{"maxlevel too big", base, func(b []byte) []byte { be.PutUint32(b[offMaxLevel:], 40); return b }, offMaxLevel},
		{"curlevel above maxlevel", base, func(b []byte) []byte { be.PutUint32(b[offCurLevel:], 21); return b }, offCurLevel},
		{"logstart past EOF", base, func(b []byte) []byte { be.PutUint32(b[offLogStart:], uint32(len(b)+4)); return b }, offLogStart},
		{"truncated in INORDER", base, func(b []byte) []byte { return b[:rs[5].off+6] }, offLogStart},
		{"DUMMY type", base, func(b []byte) []byte { be.PutUint32(b[dummyOffset:], typeInorder); return b }, dummyOffset},
		{"DUMMY terminator", base, func(b []byte) []byte { be.PutUint32(b[firstRecord-4:], 0); return b }, dummyOffset},
		{"key out of order", base, func(b []byte) []byte { b[rs[7].keyOff+7] = '0' - 1; return b }, rs[7].off},
		{"duplicate key", base, func(b []byte) []byte { copy(b[rs[8].keyOff:], b[rs[7].keyOff:rs[7].keyOff+10]); return b }, rs[8].off},
		{"key length past EOF", base, func(b []byte) []byte { be.PutUint32(b[rs[3].off+4:], 0x7FFFFFF0); return b }, rs[3].off},
		{"data length past logstart", base, func(b []byte) []byte {
			d := rs[3].keyOff + r4(10)
			be.PutUint32(b[d:], uint32(len(b)))
			return b
		}, rs[3].off},
		{"terminator missing", base, func(b []byte) []byte {
			e := rs[3].off + rs[3].size - 4
			be.PutUint32(b[e:], 0x1234)
			return b
		}, -1},
		{"ADD in INORDER section", base, func(b []byte) []byte { be.PutUint32(b[rs[2].off:], typeAdd); return b }, rs[2].off},
		{"DELETE names a non-record", logged, func(b []byte) []byte { be.PutUint32(b[delRec.off+4:], uint32(rs[0].off+4)); return b }, delRec.off},
		{"DELETE names a later offset", logged, func(b []byte) []byte { be.PutUint32(b[delRec.off+4:], uint32(len(b)-4)); return b }, delRec.off},
		{"DELETE of an already deleted node", logged, func(b []byte) []byte {
			b = be.AppendUint32(b, typeDelete)
			b = be.AppendUint32(b, uint32(rs[0].off))
			return be.AppendUint32(b, typeCommit)
		}, int64(len(logged))},
		{"DELETE of a superseded node", logged, func(b []byte) []byte {
			// The ADD of user.zzlog is live; name an INORDER node whose key
			// the log replaced: first replace rs[1] by an ADD, then delete
			// the old INORDER node again.
			add := lrs[n-4]
			k := b[rs[1].keyOff : rs[1].keyOff+10]
			rec := bytes.Clone(b[add.off : add.off+add.size])
			copy(rec[8:], k)
			b = be.AppendUint32(b, typeDelete)
			b = be.AppendUint32(b, uint32(rs[1].off))
			b = append(b, rec...)
			b = be.AppendUint32(b, typeCommit)
			b = be.AppendUint32(b, typeDelete)
			b = be.AppendUint32(b, uint32(rs[1].off))
			return be.AppendUint32(b, typeCommit)
		}, int64(len(logged)) + 8 + lrs[n-4].size + 4},
		{"unknown type before last COMMIT", logged, func(b []byte) []byte { be.PutUint32(b[delRec.off:], 77); return b }, delRec.off},
		{"log ADD truncated before last COMMIT", logged, func(b []byte) []byte { be.PutUint32(b[lrs[n-4].off+4:], 0x10000); return b }, lrs[n-4].off},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(tc.mod(bytes.Clone(tc.raw)))
			cyrusdbtest.WantCorrupt(t, err, tc.off)
		})
	}
}

// Pointers are never followed: a file whose pointers form a loop reads
// correctly (Cyrus's pointers may include uncommitted records).
func TestPointerLoopIgnored(t *testing.T) {
	base := build(t, cyrusdbtest.SampleRecords(10))
	want, _, err := readAll(base)
	if err != nil {
		t.Fatal(err)
	}
	rs := scan(base)
	b := bytes.Clone(base)
	be.PutUint32(b[rs[5].ptrOff:], uint32(rs[1].off))
	be.PutUint32(b[dummyOffset+12:], uint32(rs[5].off))
	got, _, err := readAll(b)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("with looping pointers: err %v, equal %v", err, bytes.Equal(got, want))
	}
}

func TestLogReplay(t *testing.T) {
	base := build(t, cyrusdbtest.SampleRecords(5))
	got, tail, err := readAll(withLog(base))
	if err != nil || tail != nil {
		t.Fatal(err, tail)
	}
	kvs := cyrusdbtest.SampleRecords(5)[1:]
	var want bytes.Buffer
	for _, x := range kvs {
		fmt.Fprintf(&want, "%s\t%s\n", x.Key, x.Value)
	}
	want.WriteString("user.zzlog\tlogged\n")
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %q\nwant %q", got, want.Bytes())
	}
}

// Truncation inside the header and INORDER section is an error; inside the
// log it is a crash tail (a prefix of the committed transactions) — never a
// panic, never a record that was not committed.
func TestTruncateAndFlipEverywhere(t *testing.T) {
	base := withLog(build(t, cyrusdbtest.SampleRecords(8)))
	full, _, err := readAll(base)
	if err != nil {
		t.Fatal(err)
	}
	logStart := int64(be.Uint32(base[offLogStart:]))
	// The state after the first log transaction (ADD + COMMIT).
	lrs := scan(base)
	mid, _, err := readAll(base[:lrs[len(lrs)-3].off+4])
	if err != nil || bytes.Equal(mid, full) {
		t.Fatal("bad test setup", err)
	}
	for n := 0; n < len(base); n++ {
		got, tail, err := readAll(base[:n])
		if int64(n) < logStart {
			if err == nil {
				t.Fatalf("truncated to %d (< logstart %d): no error", n, logStart)
			}
			cyrusdbtest.WantCorrupt(t, err, -1)
			continue
		}
		if err != nil {
			t.Fatalf("truncated to %d in the log: %v", n, err)
		}
		if got0, _, _ := readAll(base[:logStart]); !bytes.Equal(got, got0) && !bytes.Equal(got, mid) && !bytes.Equal(got, full) {
			t.Fatalf("truncated to %d: %q is none of the committed states", n, got)
		}
		atCommit := int64(n) == logStart || int64(n) == lrs[len(lrs)-3].off+4 || n == len(base)
		if atCommit != (tail == nil) {
			t.Fatalf("truncated to %d: tail %v", n, tail)
		}
	}
	for i := 0; i < len(base); i++ {
		b := bytes.Clone(base)
		b[i] ^= 0x01
		readAll(b) // must not panic; skiplist has no checksums
	}
}

func TestSalvage(t *testing.T) {
	kvs := cyrusdbtest.SampleRecords(30)
	base := build(t, kvs)
	rs := scan(base)
	b := bytes.Clone(base)
	be.PutUint32(b[rs[4].off:], 99)               // unknown type
	b[rs[12].keyOff+8] = 'z'                      // key out of order
	be.PutUint32(b[rs[20].off+rs[20].size-4:], 7) // missing terminator
	_, _, err := readAll(b)
	cyrusdbtest.WantCorrupt(t, err, -1)
	var got []string
	sv, err := Salvage(bytes.NewReader(b), int64(len(b)), func(k, v []byte) error {
		got = append(got, string(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, x := range kvs {
		if i != 4 && i != 12 && i != 20 {
			want = append(want, x.Key)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("salvaged\n%q\nwant\n%q\nskipped %v", got, want, sv.Skipped)
	}
	skipped := sv.Skipped
	if len(skipped) != 3 || skipped[0].Offset != rs[4].off || skipped[1].Offset != rs[12].off || skipped[2].Offset != rs[20].off {
		t.Fatalf("skipped = %v", skipped)
	}
}
