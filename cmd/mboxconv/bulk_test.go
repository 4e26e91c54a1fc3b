package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

func importSummary(t *testing.T, args ...string) convert.Summary {
	t.Helper()
	out, stderr, code := run(t, append([]string{"import"}, append(args, "--summary", "json")...)...)
	var s convert.Summary
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil {
		t.Fatalf("import %v: exit %d %v\n%s%s", args, code, err, out, stderr)
	}
	return s
}

// An empty leveldb registry is filled in one bulk step from a sorted
// source; a second run finds everything stored; --bulk off and an import
// into a registry that was used before go in batches; all three registries
// verify equal to the source. (A database file yields entries in dbname
// order; a JSON dump out of order is sorted and bulk-imported:
// TestImportJSONStreamedAndUnsortedFallback.)
func TestImportBulkAndFallback(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(fixtures, "sample.twoskip.db")

	reg := "leveldb://" + filepath.Join(dir, "bulk")
	s := importSummary(t, src, "--registry", reg, "--checkpoint", filepath.Join(dir, "cp1"))
	if !s.Bulk || s.Created != 18 || !s.Verified {
		t.Fatalf("first import into an empty registry: %+v, want bulk, 18 created, verified", s)
	}
	s = importSummary(t, src, "--registry", reg, "--checkpoint", filepath.Join(dir, "cp1"))
	if s.Bulk || s.Unchanged != 18 || !s.Verified {
		t.Fatalf("second import: %+v, want batches, 18 unchanged", s)
	}

	off := "leveldb://" + filepath.Join(dir, "off")
	s = importSummary(t, src, "--registry", off, "--bulk", "off", "--checkpoint", filepath.Join(dir, "cp2"))
	if s.Bulk || s.Created != 18 || !s.Verified {
		t.Fatalf("--bulk off: %+v", s)
	}

	// A registry that was written to, even if it holds no entry now, is
	// not empty: batches (its change log and tombstones stay).
	used := filepath.Join(dir, "used")
	st, err := leveldb.Open(context.Background(), used, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := registry.Entry{}
	e.Name, e.Server, e.Partition = "user.zed", "be1", "default"
	c, err := st.Create(context.Background(), e)
	if err == nil {
		_, err = st.Delete(context.Background(), c.Name, c.Revision)
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = importSummary(t, src, "--registry", "leveldb://"+used, "--checkpoint", filepath.Join(dir, "cp3"))
	if s.Bulk || s.Created != 18 || !s.Verified {
		t.Fatalf("import into a used, empty registry: %+v, want batches", s)
	}
	for _, r := range []string{reg, off, "leveldb://" + used} {
		if out, _, code := run(t, "verify", src, r); code != 0 {
			t.Fatalf("verify %s: exit %d\n%s", r, code, out)
		}
	}
	if _, _, code := run(t, "import", src, "--registry", reg, "--bulk", "sometimes"); code != 2 {
		t.Fatalf("--bulk sometimes: exit %d, want 2", code)
	}
}

// --domain . selects the names without a domain (16 of the sample's 18;
// the other 2 are in example.com).
func TestImportDefaultDomainFilter(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(fixtures, "sample.twoskip.db")
	s := importSummary(t, src, "--registry", "leveldb://"+filepath.Join(dir, "a"), "--domain", ".", "--checkpoint", filepath.Join(dir, "cp1"))
	if s.Selected != 16 || s.Skipped != 2 || !s.Verified {
		t.Fatalf("--domain .: %+v, want 16 selected, 2 skipped", s)
	}
	s = importSummary(t, src, "--registry", "leveldb://"+filepath.Join(dir, "b"), "--domain", ".,example.com", "--checkpoint", filepath.Join(dir, "cp2"))
	if s.Selected != 18 || !s.Verified {
		t.Fatalf("--domain .,example.com: %+v, want all 18", s)
	}
}

// A JSON dump is streamed into a bulk import (not held and sorted first);
// one whose entries are not in dbname order is refused by the bulk
// builder after part of it was read, read again sorted (sortedByDBName)
// and bulk-imported: both registries verify equal to the dump. (Sorted
// through runs on disk: TestImportShuffledJSONSortedOnDisk.)
func TestImportJSONStreamedAndUnsortedFallback(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(fixtures, "sample.twoskip.db.json")
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	var es []mboxlist.Entry
	d := mboxlist.NewJSONDecoder(f)
	for d.Next() {
		es = append(es, *d.Entry())
	}
	f.Close()
	if d.Err() != nil || len(es) != 18 {
		t.Fatalf("%s: %d entries, %v", src, len(es), d.Err())
	}
	slices.Reverse(es)
	var buf bytes.Buffer
	enc := mboxlist.NewJSONEncoder(&buf)
	for i := range es {
		if err := enc.Add(&es[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	rev := filepath.Join(dir, "reversed.json")
	if err := os.WriteFile(rev, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	sorted := "leveldb://" + filepath.Join(dir, "sorted")
	s := importSummary(t, src, "--registry", sorted, "--checkpoint", filepath.Join(dir, "cp1"))
	if !s.Bulk || s.Created != 18 || !s.Verified {
		t.Fatalf("sorted JSON dump: %+v, want bulk, 18 created, verified", s)
	}
	unsorted := "leveldb://" + filepath.Join(dir, "unsorted")
	s = importSummary(t, rev, "--registry", unsorted, "--checkpoint", filepath.Join(dir, "cp2"))
	if !s.Bulk || s.Created != 18 || !s.Verified {
		t.Fatalf("reversed JSON dump: %+v, want bulk after sorting, 18 created, verified", s)
	}
	for _, r := range []string{sorted, unsorted} {
		if out, _, code := run(t, "verify", src, r); code != 0 {
			t.Fatalf("verify %s %s: exit %d\n%s", src, r, code, out)
		}
	}
}
