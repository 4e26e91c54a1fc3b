package registrytest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/murderkit/murderkit/registry"
)

func testImport(t *testing.T, s registry.Store) {
	ctx := ctxT(t)
	var batch []registry.Entry
	for i := range 300 {
		batch = append(batch, Mailbox(fmt.Sprintf("user.u%03d", i), "be1", "default", fmt.Sprintf("u%03d", i), "lrswipkxtecdan", "anyone", "l"))
	}
	// A name deleted before the import is imported again (an import is an
	// explicit operator action, not a replay).
	mustCreate(t, s, Mailbox("user.u007", "old", "default"))
	if _, err := s.Delete(ctx, "user.u007", 0); err != nil {
		t.Fatal(err)
	}
	// A name the import does not hold, among the names it does, is left
	// alone.
	foreign := mustCreate(t, s, Mailbox("user.u150.Foreign", "be2", "default", "u150", "lrswipkxtecdan"))
	st, err := s.Import(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if st != (registry.ImportStats{Created: 300}) {
		t.Fatalf("first Import = %+v", st)
	}
	if g, err := s.Get(ctx, foreign.Name); err != nil || g.Revision != foreign.Revision || g.Server != "be2" {
		t.Fatalf("Get of the name the import did not hold = %+v, %v; want %+v", g, err, foreign)
	}
	r1, _ := s.Revision(ctx)
	st, err = s.Import(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if st != (registry.ImportStats{Unchanged: 300}) {
		t.Fatalf("re-run Import = %+v", st)
	}
	if r2, _ := s.Revision(ctx); r2 != r1 {
		t.Fatalf("re-run Import changed the revision %d → %d", r1, r2)
	}
	batch[5].SetPrimary(registry.Location{Server: "be1", Partition: "p2"})
	batch[5].Locations = batch[5].Locations[:1]
	st, err = s.Import(ctx, batch[:10])
	if err != nil || st != (registry.ImportStats{Updated: 1, Unchanged: 9}) {
		t.Fatalf("Import with one change = %+v, %v", st, err)
	}
	if n, _ := s.Count(ctx, ""); n != 301 {
		t.Fatalf("Count = %d, want 301", n)
	}
	g, err := s.Get(ctx, "user.u005")
	if err != nil || g.Partition != "p2" {
		t.Fatalf("Get after import = %+v, %v", g, err)
	}
	if _, err := s.GetTombstone(ctx, "user.u007"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("import left the tombstone: %v", err)
	}
	v, err := s.Visible(ctx, "u100", nil)
	if err != nil || len(v) != 300 || v[0] != "user.u100" || v[1] != "user.u000" {
		t.Fatalf("Visible after import: %d names (%v), first %q", len(v), err, v[:min(2, len(v))])
	}
}
