package mboxfile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/internal/extsort"
)

// TestExportSpoolOrder spools records in many small runs, some "ordered"
// ones out of order, and checks the merge yields exactly the records sorted
// by the format's comparator (signed for skiplist: bytes >= 0x80 first).
func TestExportSpoolOrder(t *testing.T) {
	for _, format := range []dbfile.Kind{dbfile.KindTwoskip, dbfile.KindSkiplist} {
		t.Run(format.String(), func(t *testing.T) {
			dir := t.TempDir()
			cmp := format.Compare()
			s, err := NewRecordSpool(filepath.Join(dir, ".out.db.tmp-spool"), cmp, 512) // many runs
			if err != nil {
				t.Fatal(err)
			}
			defer s.Remove()
			rng := rand.New(rand.NewSource(1))
			want := map[string]string{}
			for i := range 2000 {
				key := fmt.Sprintf("N%06d", i)
				if rng.Intn(10) == 0 {
					key = fmt.Sprintf("N%06d\xc3\xa9", rng.Intn(3000)+5000) // out of order, non-ASCII
				}
				if _, dup := want[key]; dup {
					continue
				}
				want[key] = "v" + key
				if err := s.Add([]byte(key), []byte("v"+key), true); err != nil {
					t.Fatal(err)
				}
				ikey := fmt.Sprintf("I%08x", rng.Uint32())
				if _, dup := want[ikey]; dup {
					continue
				}
				want[ikey] = key
				if err := s.Add([]byte(ikey), []byte(key), false); err != nil {
					t.Fatal(err)
				}
			}
			if s.sorter.Runs() < 10 {
				t.Fatalf("only %d sorted runs: the test should exercise the merge", s.sorter.Runs())
			}
			var keys []string
			for k := range want {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return cmp([]byte(keys[i]), []byte(keys[j])) < 0 })
			var got []string
			err = s.Merge(func(k, v []byte) error {
				if want[string(k)] != string(v) {
					return fmt.Errorf("key %q: value %q, want %q", k, v, want[string(k)])
				}
				got = append(got, string(k))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(keys) {
				t.Fatalf("merged %d records, want %d", len(got), len(keys))
			}
			for i := range keys {
				if got[i] != keys[i] {
					t.Fatalf("record %d: %q, want %q", i, got[i], keys[i])
				}
			}
		})
	}
}

// TestExportSpoolDuplicate: two N records with one key, in different runs,
// are an input error, not two records in the file; I records with one key
// (a tombstone and the live mailbox share a uniqueid after a RENAME) leave
// the one Cyrus keeps, and two live mailboxes with one uniqueid are an
// input error naming both.
func TestExportSpoolDuplicate(t *testing.T) {
	spool := func(recs ...[2]string) *RecordSpool {
		s, err := NewRecordSpool(filepath.Join(t.TempDir(), ".out.db.tmp-spool"), cyrusdb.CompareRaw, 64) // several runs
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := s.Add([]byte(r[0]), []byte(r[1]), false); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	live := "%(T e N user\x1Fa\x1FNew P default V 7 M 2 H (%(N user\x1Fa\x1FOld M 1 V 7 T ed)))"
	tomb := "%(T ed N user\x1Fa\x1FOld V 7 M 2 H ())"
	s := spool([2]string{"Na", "x"}, [2]string{"Iu1", tomb}, [2]string{"Iu2", "y"}, [2]string{"Iu1", live}, [2]string{"Nb", "x"})
	var got []string
	if err := s.Merge(func(k, v []byte) error { got = append(got, string(k)+"="+string(v)); return nil }); err != nil {
		t.Fatalf("Merge with a tombstone sharing the uniqueid: %v", err)
	}
	want := []string{"Iu1=" + live, "Iu2=y", "Na=x", "Nb=x"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Merge gave\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	s = spool([2]string{"Na", "x"}, [2]string{"Nb", "x"}, [2]string{"Iu1", "y"}, [2]string{"Na", "x"})
	err := s.Merge(func(k, v []byte) error { return nil })
	if !errors.Is(err, ErrDuplicateKey) || ClassOf(err) != Input {
		t.Fatalf("Merge = %v, want a duplicate-key input error", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(`"Na"`)) {
		t.Fatalf("error %q does not name the key", err)
	}
	live2 := "%(T e N user\x1Fb V 7 M 2 H ())"
	live1 := "%(T e N user\x1Fa V 7 M 2 H ())"
	s = spool([2]string{"Iu1", live1}, [2]string{"Iu1", live2})
	err = s.Merge(func(k, v []byte) error { return nil })
	if ClassOf(err) != Input || !strings.Contains(err.Error(), "user.a") || !strings.Contains(err.Error(), "user.b") {
		t.Fatalf("two live mailboxes with one uniqueid: %v", err)
	}
	s.Remove()
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Fatalf("spool directory left behind: %v", err)
	}
}

// TestKeyPrefixOrder: where two keys' prefixes differ, they order as the
// keys do in the format's order (raw or signed), for keys made of the
// bytes where the two orders and the zero padding meet.
func TestKeyPrefixOrder(t *testing.T) {
	alphabet := []byte{0x00, 0x01, 0x7f, 0x80, 0x81, 0xff, 'I', 'N'}
	rng := rand.New(rand.NewSource(2))
	var keys [][]byte
	for range 400 {
		k := make([]byte, rng.Intn(11))
		for i := range k {
			k[i] = alphabet[rng.Intn(len(alphabet))]
		}
		keys = append(keys, k)
	}
	for _, format := range []dbfile.Kind{dbfile.KindTwoskip, dbfile.KindSkiplist} {
		cmp := format.Compare()
		signed := format == dbfile.KindSkiplist
		ties := 0
		for _, a := range keys {
			for _, b := range keys {
				pa, pb := extsort.KeyPrefix(a, signed), extsort.KeyPrefix(b, signed)
				c := cmp(a, b)
				switch {
				case pa < pb && c >= 0, pa > pb && c <= 0:
					t.Fatalf("%s: keys %x, %x: prefixes %x, %x against compare %d", format, a, b, pa, pb, c)
				case pa == pb:
					ties++
				}
			}
		}
		if ties == len(keys) {
			t.Fatalf("%s: no ties but the diagonal: the test keys are too easy", format)
		}
	}
}
