package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/convert"
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
// verify equal to the source. (Every file or dump source
// yields entries in dbname order, so the fallback after leveldb.ErrUnsorted
// is not reachable from here; leveldb's TestBuildRefuses covers Build's
// refusal.)
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
