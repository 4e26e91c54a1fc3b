package leveldb

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// bulkEntries returns n entries of many shapes (domains, groups, anyone,
// negative rights, reserved and deleted ones, DELETED.*, intermediates,
// shared folders), sorted by dbname as a Cyrus 3.x file gives them.
func bulkEntries(n int) []registry.Entry {
	es := make([]registry.Entry, 0, n)
	for i := 0; len(es) < n; i++ {
		e := registry.Entry{}
		u := fmt.Sprintf("u%05d", i/6)
		switch i % 6 {
		case 0:
			e.Name = "user." + u
		case 1:
			e.Name = "user." + u + ".Sent"
		case 2:
			e.Name = "example.org!user." + u + ".Trash"
		case 3:
			e.Name = fmt.Sprintf("shared.team%d.f%d", i%13, i)
		case 4:
			e.Name = fmt.Sprintf("DELETED.user.%s.%X", u, i)
		case 5:
			e.Name = "user." + u + ".dir.sub"
		}
		e.Server, e.Partition = fmt.Sprintf("be%d", i%3), "default"
		e.UniqueID = fmt.Sprintf("%016x", i)
		e.UIDValidity = uint32(1000 + i)
		e.Mtime = int64(1700000000 + i)
		e.ACL = mboxlist.ACL{{ID: u, Rights: "lrswipkxtecdan"}}
		switch i % 5 {
		case 0:
			e.ACL = append(e.ACL, mboxlist.ACLItem{ID: fmt.Sprintf("group:g%d", i%7), Rights: "lrs"})
		case 1:
			e.ACL = append(e.ACL, mboxlist.ACLItem{ID: "anyone", Rights: "lr"}, mboxlist.ACLItem{ID: "-" + fmt.Sprintf("u%05d", i/6+1), Rights: "l"})
		case 2:
			e.ACL = append(e.ACL, mboxlist.ACLItem{ID: fmt.Sprintf("u%05d", (i*7)%97), Rights: "lr"})
		}
		switch i % 11 {
		case 3:
			e.Type |= mboxlist.FlagReserve
		case 7:
			e.Type |= mboxlist.FlagIntermediate
		}
		es = append(es, e)
	}
	sort.Slice(es, func(a, b int) bool { return registry.DBName(es[a].Name) < registry.DBName(es[b].Name) })
	return es
}

func feedAll(es []registry.Entry) func(add func(registry.Entry) error) error {
	return func(add func(registry.Entry) error) error {
		for _, e := range es {
			if err := add(e); err != nil {
				return err
			}
		}
		return nil
	}
}

// rawKeys reads every key and value of the leveldb database in dir.
func rawKeys(t *testing.T, dir string) map[string]string {
	t.Helper()
	db, err := goleveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	it := db.NewIterator(nil, nil)
	defer it.Release()
	for it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBuildEqualsImport: Build writes, key for key and byte for byte, what
// Store.Import writes into an empty registry, except the change log (Build
// starts it after the import: floor n+1).
func TestBuildEqualsImport(t *testing.T) {
	ctx := context.Background()
	es := bulkEntries(5000)
	dirA, dirB := filepath.Join(t.TempDir(), "import"), filepath.Join(t.TempDir(), "build")
	a, err := Open(ctx, dirA, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(es); i += 700 {
		if _, err := a.Import(ctx, es[i:min(i+700, len(es))]); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	st, err := Build(ctx, dirB, &Options{NoSync: true}, feedAll(es))
	if err != nil {
		t.Fatal(err)
	}
	if st.Created != len(es) {
		t.Fatalf("Build created %d, want %d", st.Created, len(es))
	}
	ka, kb := rawKeys(t, dirA), rawKeys(t, dirB)
	changes := 0
	for k := range ka {
		if strings.HasPrefix(k, pfxChange) {
			delete(ka, k)
			changes++
		}
	}
	if changes != len(es) {
		t.Fatalf("import wrote %d change records, want %d", changes, len(es))
	}
	if got, want := kb[keyFloor], string(be64(int64(len(es)+1))); got != want {
		t.Fatalf("build floor %x, want %x", got, want)
	}
	delete(kb, keyFloor)
	var idx int
	for k := range kb {
		if strings.HasPrefix(k, pfxIndex) {
			idx++
		}
	}
	if idx < len(es) {
		t.Fatalf("only %d index rows for %d entries", idx, len(es))
	}
	if d := cmp.Diff(ka, kb); d != "" {
		t.Fatalf("Build and Import differ (-import +build):\n%s", d)
	}

	// The built registry works as a registry: reads, Visible, writes,
	// Watch after the import.
	b, err := Open(ctx, dirB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if rev, _ := b.Revision(ctx); rev != int64(len(es)) {
		t.Fatalf("revision %d, want %d", rev, len(es))
	}
	a, err = Open(ctx, dirA, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, u := range []string{"u00001", "u00006", "u00010@example.org", "anonymous", "u00042"} {
		va, err1 := a.Visible(ctx, u, []string{"g3"})
		vb, err2 := b.Visible(ctx, u, []string{"g3"})
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if d := cmp.Diff(va, vb); d != "" {
			t.Fatalf("Visible(%s) differs:\n%s", u, d)
		}
	}
	g, err := b.Get(ctx, es[17].Name)
	if err != nil || g.UniqueID != es[17].UniqueID {
		t.Fatalf("Get %s: %+v %v", es[17].Name, g, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w := b.Watch(wctx, int64(len(es)))
	old := b.Watch(wctx, 0)
	if ev := <-old; !errors.Is(ev.Err, registry.ErrCompacted) {
		t.Fatalf("Watch(0) on a built registry: %+v, want ErrCompacted", ev)
	}
	ne := registry.Entry{}
	ne.Name, ne.Server, ne.Partition = "user.zzz", "be1", "default"
	ne.ACL = mboxlist.ACL{{ID: "zzz", Rights: "lrswipkxtecdan"}}
	created, err := b.Create(ctx, ne)
	if err != nil || created.Revision != int64(len(es)+1) {
		t.Fatalf("Create after build: %+v %v", created, err)
	}
	ev := <-w
	for ev.Type == registry.EventProgress { // a new watch confirms its progress once
		ev = <-w
	}
	if ev.Err != nil || ev.Name != "user.zzz" || ev.Revision != int64(len(es)+1) {
		t.Fatalf("Watch after build: %+v", ev)
	}
	if _, err := b.Create(ctx, es[17]); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("Create of a built name: %v, want ErrExists", err)
	}
	// An update replaces the built index rows.
	up := g
	up.ACL = mboxlist.ACL{{ID: "newcomer", Rights: "lr"}}
	if _, err := b.Update(ctx, up); err != nil {
		t.Fatal(err)
	}
	v, err := b.Visible(ctx, "newcomer", nil)
	if err != nil || !contains(v, g.Name) == registry.Listable(&g) {
		t.Fatalf("Visible(newcomer) after update = %v, %v (entry listable %v)", v, err, registry.Listable(&g))
	}
	n, err := b.Count(ctx, "")
	if err != nil || n != len(es)+1 {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(es)+1)
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// TestBuildRefuses: a registry that holds anything, unsorted input, a
// failing feed and a cancelled context leave the registry as it was, with
// no table files left behind.
func TestBuildRefuses(t *testing.T) {
	ctx := context.Background()
	es := bulkEntries(3000)

	dir := filepath.Join(t.TempDir(), "nonempty")
	s, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, es[0]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Build(ctx, dir, nil, feedAll(es)); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("Build into a non-empty registry: %v, want ErrNotEmpty", err)
	}

	swapped := append([]registry.Entry(nil), es...)
	swapped[2500], swapped[2501] = swapped[2501], swapped[2500]
	dup := append(append([]registry.Entry(nil), es[:100]...), es[99:]...)
	boom := errors.New("source broke")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		feed func(add func(registry.Entry) error) error
		want error
	}{
		{"unsorted", ctx, feedAll(swapped), ErrUnsorted},
		{"duplicate", ctx, feedAll(dup), ErrUnsorted},
		{"feed error", ctx, func(add func(registry.Entry) error) error {
			for _, e := range es[:2000] {
				if err := add(e); err != nil {
					return err
				}
			}
			return boom
		}, boom},
		{"cancelled", cctx, feedAll(es), context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "reg")
			if _, err := Build(c.ctx, dir, nil, c.feed); !errors.Is(err, c.want) {
				t.Fatalf("Build: %v, want %v", err, c.want)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*.ldb")); len(m) > 0 {
				t.Fatalf("table files left behind: %v", m)
			}
			s, err := Open(ctx, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n, err := s.Count(ctx, ""); err != nil || n != 0 {
				t.Fatalf("registry after a refused build holds %d entries (%v)", n, err)
			}
			// And a build after the refusal works.
			s.Close()
			if _, err := Build(ctx, dir, nil, feedAll(es)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBuildLocked: Build takes the same lock as Open.
func TestBuildLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	s, err := Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Build(context.Background(), dir, nil, feedAll(bulkEntries(10)))
	if !errors.Is(err, registry.ErrUnavailable) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("Build of an open registry: %v", err)
	}
}

// TestBuildLarge: tables are split at the size target and the registry
// reopens and compacts normally after more writes.
func TestBuildLarge(t *testing.T) {
	ctx := context.Background()
	es := bulkEntries(60000)
	dir := filepath.Join(t.TempDir(), "reg")
	if _, err := Build(ctx, dir, &Options{NoSync: true}, feedAll(es)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.ldb"))
	if len(files) < 3 {
		t.Fatalf("%d table files, want one per stream at least", len(files))
	}
	s, err := Open(ctx, dir, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Rewrite every tenth entry, then compact everything: the built keys
	// and the new ones merge.
	for i := 0; i < len(es); i += 10 {
		e, err := s.Get(ctx, es[i].Name)
		if err != nil {
			t.Fatal(err)
		}
		e.UniqueID = "moved"
		if _, err := s.Update(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.CompactRange(util.Range{}); err != nil {
		t.Fatal(err)
	}
	moved := 0
	if _, err := s.List(ctx, "", func(e registry.Entry) error {
		if e.UniqueID == "moved" {
			moved++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if moved != len(es)/10 {
		t.Fatalf("%d moved entries after compaction, want %d", moved, len(es)/10)
	}
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); err != nil {
		t.Fatal(err)
	}
}

// historyEntries is bulkEntries(n) with what real histories hold besides:
// an ACL naming one identifier twice, tombstones (some sharing a uniqueid
// with a live mailbox of another name), entries with an empty partition
// and without a server, and the rows of many identifiers.
func historyEntries(n int) []registry.Entry {
	es := bulkEntries(n)
	for i := range es {
		e := &es[i]
		switch i % 17 {
		case 2:
			e.ACL = append(e.ACL, mboxlist.ACLItem{ID: e.ACL[0].ID, Rights: "lr"}) // named twice
		case 5:
			e.Type |= mboxlist.FlagDeleted
			if i > 0 {
				e.UniqueID = es[i-1].UniqueID
			}
		case 9:
			e.Partition = ""
		case 13:
			e.Server = ""
		}
	}
	return es
}

// TestBuildSpillsACLRows: with a sort budget of a few kilobytes the ACL
// rows really go through many runs on disk, and the registry's table files
// are the same, byte for byte, as those of one built with every row in
// memory, and hold the same keys as Store.Import writes. The runs are gone
// afterwards, as are those a crashed build left.
func TestBuildSpillsACLRows(t *testing.T) {
	ctx := context.Background()
	es := historyEntries(12000)
	dirM, dirS, dirI := filepath.Join(t.TempDir(), "mem"), filepath.Join(t.TempDir(), "spill"), filepath.Join(t.TempDir(), "import")
	if _, err := Build(ctx, dirM, &Options{NoSync: true}, feedAll(es)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dirS, sortDirPrefix+"crashed"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirS, sortDirPrefix+"crashed", "run0"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(b int) { bulkSortBudget = b }(bulkSortBudget)
	bulkSortBudget = 2 << 10
	maxRuns := 0
	if _, err := Build(ctx, dirS, &Options{NoSync: true}, func(add func(registry.Entry) error) error {
		if err := feedAll(es)(add); err != nil {
			return err
		}
		// The index goroutine may still be behind the feed: wait for
		// the runs of the rows it has grouped so far.
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			runs, _ := filepath.Glob(filepath.Join(dirS, sortDirPrefix+"*", "run*"))
			maxRuns = max(maxRuns, len(runs))
			if maxRuns >= 10 {
				break
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if maxRuns < 10 {
		t.Fatalf("%d sort runs on disk during the build, want at least 10 with a 2 KiB budget", maxRuns)
	}
	if left, _ := filepath.Glob(filepath.Join(dirS, sortDirPrefix+"*")); len(left) != 0 {
		t.Fatalf("sort directories left after the build: %v", left)
	}
	// Table for table: the same table files, by content (their numbers
	// are handed out to the entry and index writers as each needs one, so
	// which of two tables gets the lower number races, with or without the
	// sort), and the same keys and values.
	tables := func(dir string) []string {
		files, err := filepath.Glob(filepath.Join(dir, "*.ldb"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no tables in %s: %v", dir, err)
		}
		var out []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%x", sha256.Sum256(b)))
		}
		sort.Strings(out)
		return out
	}
	if d := cmp.Diff(tables(dirM), tables(dirS)); d != "" {
		t.Fatalf("table files differ (-memory +spilled):\n%s", d)
	}
	if d := cmp.Diff(rawKeys(t, dirM), rawKeys(t, dirS)); d != "" {
		t.Fatalf("keys differ (-memory +spilled):\n%s", d)
	}
	// Key for key: what Store.Import writes (but the change log).
	a, err := Open(ctx, dirI, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(es); i += 1000 {
		if _, err := a.Import(ctx, es[i:min(i+1000, len(es))]); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	ki, ks := rawKeys(t, dirI), rawKeys(t, dirS)
	for k := range ki {
		if strings.HasPrefix(k, pfxChange) {
			delete(ki, k)
		}
	}
	delete(ks, keyFloor)
	rows := 0
	for k := range ks {
		if strings.HasPrefix(k, pfxIndex+"a") {
			rows++
		}
	}
	if rows < len(es) {
		t.Fatalf("only %d ACL rows for %d entries", rows, len(es))
	}
	if d := cmp.Diff(ki, ks); d != "" {
		t.Fatalf("spilled Build and Import differ (-import +build):\n%s", d)
	}
}
