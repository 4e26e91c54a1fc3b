package extsort

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type rec struct{ k, v string }

// TestSorterStable: records with repeated keys, sorted through many runs
// (and once all in memory), come out in key order with ties in the order
// they were added, all of them, in both byte orders; Close removes the runs.
func TestSorterStable(t *testing.T) {
	signed := func(a, b []byte) int {
		for i := 0; i < len(a) && i < len(b); i++ {
			if x, y := int8(a[i]), int8(b[i]); x != y {
				if x < y {
					return -1
				}
				return 1
			}
		}
		return len(a) - len(b)
	}
	for _, c := range []struct {
		name   string
		cmp    func(a, b []byte) int
		budget int
		runs   bool
	}{{"raw-spilled", bytes.Compare, 512, true}, {"signed-spilled", signed, 700, true}, {"raw-memory", bytes.Compare, 1 << 20, false}} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(1))
			var in []rec
			for i := range 5000 {
				k := make([]byte, r.Intn(12))
				for j := range k {
					k[j] = "a\x80\xffb"[r.Intn(4)]
				}
				in = append(in, rec{string(k), fmt.Sprint(i)})
			}
			dir := t.TempDir()
			s := NewSorter(dir, c.budget, c.cmp)
			for _, x := range in {
				if err := s.Add([]byte(x.k), []byte(x.v)); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Runs() > 1; got != c.runs {
				t.Fatalf("%d runs written, want spilled=%v", s.Runs(), c.runs)
			}
			var out []rec
			if err := s.Merge(func(k, v []byte) error { out = append(out, rec{string(k), string(v)}); return nil }); err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(in)
			slices.SortStableFunc(want, func(a, b rec) int { return c.cmp([]byte(a.k), []byte(b.k)) })
			if !slices.Equal(out, want) {
				t.Fatalf("merged %d records differ from a stable sort of %d", len(out), len(want))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("runs left after Close: %v", left)
			}
		})
	}
}

// TestRunCutShort: a run that ends inside a record is an error naming the
// file, never a silently shorter result.
func TestRunCutShort(t *testing.T) {
	dir := t.TempDir()
	s := NewSorter(dir, 64, bytes.Compare)
	for i := range 100 {
		if err := s.Add([]byte(fmt.Sprintf("key%03d", 99-i)), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(); err != nil {
		t.Fatal(err)
	}
	run0 := filepath.Join(dir, "run0")
	b, err := os.ReadFile(run0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(run0, b[:len(b)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = s.Merge(func(k, v []byte) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), run0) {
		t.Fatalf("merge of a cut run: %v after %d records, want an error naming %s", err, n, run0)
	}
	s.Close()
}

// TestTempSorter: a NewTempSorter touches no disk while its records fit in
// one buffer, makes its directory in $TMPDIR at the first run, and Close
// removes it with the runs.
func TestTempSorter(t *testing.T) {
	for _, c := range []struct {
		budget int
		runs   bool
	}{{1 << 20, false}, {256, true}} {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		s := NewTempSorter("sort-test-", c.budget, bytes.Compare)
		for i := range 200 {
			if err := s.Add([]byte(fmt.Sprintf("key%03d", (i*7)%200)), []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		if c.runs != (s.Runs() > 0) || c.runs != (s.Dir() != "") {
			t.Fatalf("budget %d: %d runs in %q, want spilled=%v", c.budget, s.Runs(), s.Dir(), c.runs)
		}
		if c.runs && filepath.Dir(s.Dir()) != tmp {
			t.Fatalf("runs in %s, not in $TMPDIR %s", s.Dir(), tmp)
		}
		var prev string
		n := 0
		if err := s.Merge(func(k, v []byte) error {
			if string(k) <= prev {
				return fmt.Errorf("%q after %q", k, prev)
			}
			prev = string(k)
			n++
			return nil
		}); err != nil || n != 200 {
			t.Fatalf("merge: %v after %d records", err, n)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("left in $TMPDIR after Close: %v", left)
		}
	}
}

// TestPresortedAndReopen: records given to AddSorted, most in order and
// some not, merged with records given to Add through many runs, come out
// in key order, a tie between the presorted run and another run with the
// presorted record first; the in-order ones went to the presorted run
// (not the buffer); and a sorter reopened on the files a finished one
// lists yields the same records.
func TestPresortedAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := NewSorter(dir, 256, bytes.Compare)
	if err := s.Presorted("ordered"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(3))
	var want []rec
	inOrder := 0
	for i := range 3000 {
		k := fmt.Sprintf("N%06d", i)
		if r.Intn(8) == 0 {
			k = fmt.Sprintf("M%06d", r.Intn(3000)) // behind the last: buffered
		} else {
			inOrder++
		}
		if err := s.AddSorted([]byte(k), []byte("p"+k)); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec{k, "p" + k})
		if i%3 == 0 {
			ik := fmt.Sprintf("I%04x", r.Intn(1<<16))
			if err := s.Add([]byte(ik), []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
			want = append(want, rec{ik, fmt.Sprint(i)})
		}
	}
	// a tie with a buffered record: the presorted one first
	if err := s.Add([]byte("N000000"), []byte("added")); err != nil {
		t.Fatal(err)
	}
	want = append(want, rec{"N000000", "added"})
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	files := s.Files()
	if len(files) < 5 || filepath.Base(files[0]) != "ordered" {
		t.Fatalf("files %v: want the presorted run first and several runs", files)
	}
	pre, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if min := int64(inOrder * len("N000000pN000000")); pre.Size() < min {
		t.Fatalf("presorted run holds %d bytes, want at least %d (the in-order records)", pre.Size(), min)
	}
	// the stable order: presorted records (which are never out of order
	// among themselves) before buffered ones of the same key
	slices.SortStableFunc(want, func(a, b rec) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return 0
	})
	merge := func(s *Sorter) []rec {
		var out []rec
		if err := s.Merge(func(k, v []byte) error { out = append(out, rec{string(k), string(v)}); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(out []rec) {
		t.Helper()
		if len(out) != len(want) {
			t.Fatalf("merged %d records, want %d", len(out), len(want))
		}
		for i := range out {
			if out[i].k != want[i].k {
				t.Fatalf("record %d: key %q, want %q", i, out[i].k, want[i].k)
			}
			if i > 0 && out[i].k == out[i-1].k && out[i].v[0] == 'p' && out[i-1].v[0] != 'p' {
				t.Fatalf("key %q: the presorted record came after another run's", out[i].k)
			}
		}
	}
	check(merge(ReopenSorter(dir, 256, bytes.Compare, files)))
	check(merge(s))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("files left after Close: %v", left)
	}
}
