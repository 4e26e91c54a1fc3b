package convert

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	_ "github.com/murderkit/murderkit/registry/leveldb"
)

func entries(n int) []mboxlist.Entry {
	var all []mboxlist.Entry
	for i := 0; i < n; i++ {
		all = append(all, mboxlist.Entry{Name: fmt.Sprintf("user.u%05d", i), Partition: "default",
			Server: fmt.Sprintf("be%d", i%3), UniqueID: fmt.Sprintf("uid%05d", i), UIDValidity: uint32(i + 1),
			ACL: mboxlist.ACL{{ID: fmt.Sprintf("u%05d", i), Rights: "lrswipkxtecdan"}}})
	}
	return all
}

func sliceSource(all []mboxlist.Entry) EntrySource {
	return func(ctx context.Context, fn func(*mboxlist.Entry) error) error {
		for i := range all {
			e := all[i]
			if err := fn(&e); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestDigestOrderAndContent(t *testing.T) {
	all := entries(50)
	var a, b, c Digest
	for i := range all {
		e := Prepare(&all[i], "")
		a.Add(&e)
		f := Prepare(&all[len(all)-1-i], "")
		b.Add(&f)
	}
	if d := a.Compare(&b); d != nil {
		t.Fatalf("order changed the digest: %v", d)
	}
	all[7].ACL[0].Rights = "lr"
	for i := range all {
		e := Prepare(&all[i], "")
		c.Add(&e)
	}
	if d := a.Compare(&c); len(d) != 1 {
		t.Fatalf("one changed ACL: got %v, want one slot differing", d)
	}
	// Absent and empty are different content wherever Cyrus keeps them
	// apart: no A field against `A %()`, no partition against `P ""`
	// ("host" against "host!"), no S against `S ""`, and a history item's P.
	x := registry.Entry{Entry: mboxlist.Entry{Name: "a"}}
	y := registry.Entry{Entry: mboxlist.Entry{Name: "a", ACL: mboxlist.ACL{}}}
	if string(Canonical(&x, false)) == string(Canonical(&y, false)) {
		t.Error("absent and empty ACL digest alike")
	}
	p1 := registry.Entry{Entry: mboxlist.Entry{Name: "a", Server: "be1"}}
	p2 := p1
	p2.SetPresent(mboxlist.FieldPartition, true)
	if string(Canonical(&p1, false)) == string(Canonical(&p2, false)) {
		t.Error(`location "be1" and "be1!" digest alike`)
	}
	s1 := registry.Entry{Entry: mboxlist.Entry{Name: "a", Partition: "p"}}
	s2 := s1
	s2.SetPresent(mboxlist.FieldServer, true)
	if string(Canonical(&s1, false)) == string(Canonical(&s2, false)) {
		t.Error(`no server and S "" digest alike`)
	}
	h1 := registry.Entry{Entry: mboxlist.Entry{Name: "a", History: []mboxlist.HistoryItem{{Name: "b"}}}}
	h2 := registry.Entry{Entry: mboxlist.Entry{Name: "a", History: []mboxlist.HistoryItem{{Name: "b", EmptyPartition: true}}}}
	if string(Canonical(&h1, false)) == string(Canonical(&h2, false)) {
		t.Error(`a history item without P and with P "" digest alike`)
	}
	// A stale Empty bit on a field that holds a value changes nothing.
	v1 := registry.Entry{Entry: mboxlist.Entry{Name: "a", Server: "be1", Partition: "p"}}
	v2 := v1
	v2.SetPresent(mboxlist.FieldPartition|mboxlist.FieldServer, true)
	if string(Canonical(&v1, false)) != string(Canonical(&v2, false)) {
		t.Error("an Empty bit on a field with a value changes the digest")
	}
}

func TestFilter(t *testing.T) {
	slot := registry.Slot{Name: "s1", Locations: []registry.Location{{Server: "be1"}}}
	cases := []struct {
		f    Filter
		name string
		srv  string
		want bool
	}{
		{Filter{}, "user.a", "be1", true},
		{Filter{Prefixes: []string{"user.a"}}, "user.a.b", "be1", true},
		{Filter{Prefixes: []string{"user.a"}}, "user.ab", "be1", false},
		{Filter{Domains: []string{"example.com"}}, "example.com!user.a", "be1", true},
		{Filter{Domains: []string{""}}, "example.com!user.a", "be1", false},
		{Filter{Servers: []string{"be2"}}, "user.a", "be1", false},
		{Filter{Slot: "s1", SlotDef: &slot}, "user.a", "be1", true},
		{Filter{Slot: "s1", SlotDef: &slot}, "user.a", "be2", false},
		{Filter{Partitions: []string{"p2"}}, "user.a", "be1", false},
	}
	for _, c := range cases {
		e := Prepare(&mboxlist.Entry{Name: c.name, Server: c.srv, Partition: "default"}, "")
		if got := c.f.Match(&e); got != c.want {
			t.Errorf("%s on %s/%s: %v, want %v", c.f.String(), c.name, c.srv, got, c.want)
		}
	}
}

var errKill = errors.New("killed")

// TestImportResume stops an import after k entries of the source (as a
// kill would, after the last saved batch) and runs it again: the second
// run skips what the checkpoint covers and the registry ends equal to an
// uninterrupted import.
func TestImportResume(t *testing.T) {
	ctx := context.Background()
	all := entries(2500)
	for _, k := range []int{1, 999, 1000, 1001, 2499} {
		dir := t.TempDir()
		st, err := registry.Open(ctx, "leveldb://"+filepath.Join(dir, "reg"))
		if err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(dir, "cp.json")
		o := ImportOptions{Batch: 1000, Checkpoint: cp, Job: "j"}
		stop := func(ctx context.Context, fn func(*mboxlist.Entry) error) error {
			return sliceSource(all)(ctx, func(e *mboxlist.Entry) error {
				if e.Name == all[k].Name {
					return errKill
				}
				return fn(e)
			})
		}
		if _, err := Import(ctx, stop, st, o); !errors.Is(err, errKill) {
			t.Fatalf("k=%d: first run: %v", k, err)
		}
		c, err := LoadCheckpoint(cp, "j")
		if err != nil || c.Done != int64(k/1000*1000) {
			t.Fatalf("k=%d: checkpoint %+v %v, want done %d", k, c, err, k/1000*1000)
		}
		s, err := Import(ctx, sliceSource(all), st, o)
		if err != nil {
			t.Fatalf("k=%d: resumed run: %v", k, err)
		}
		if s.Resumed != c.Done || s.Created != len(all)-int(c.Done) || !s.Verified {
			t.Errorf("k=%d: resumed run %+v", k, s)
		}
		if n, _ := st.Count(ctx, ""); n != len(all) {
			t.Errorf("k=%d: %d entries in the registry, want %d", k, n, len(all))
		}
		if c, _ := LoadCheckpoint(cp, "j"); c.Done != 0 {
			t.Errorf("k=%d: checkpoint left after a verified run: %+v", k, c)
		}
		st.Close()
	}
}

// TestImportVerifyFails: the registry digest of a registry that does not
// hold the source's content differs from the source's digest.
func TestImportVerifyFails(t *testing.T) {
	ctx := context.Background()
	st, err := registry.Open(ctx, "leveldb://"+filepath.Join(t.TempDir(), "reg"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all := entries(10)
	src := sliceSource(all)
	e := Prepare(&all[3], "")
	if _, err := st.Import(ctx, []registry.Entry{e}); err != nil {
		t.Fatal(err)
	}
	s, err := Import(ctx, src, st, ImportOptions{})
	if err != nil || !s.Verified {
		t.Fatalf("clean import: %v %+v", err, s)
	}
	// Now the registry differs from a source with one changed entry.
	all[3].UIDValidity = 77
	d := &Digest{}
	for i := range all {
		e := Prepare(&all[i], "")
		d.Add(&e)
	}
	got, err := RegistryDigest(ctx, st, nil, "", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := d.Compare(got); len(diff) != 1 {
		t.Errorf("changed uidvalidity: %v", diff)
	}
}

// TestFileIdentity: a file's identity for a checkpoint stays while the
// file does, and changes with its size or its modification time (a file
// Cyrus rewrote is another job).
func TestFileIdentity(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mailboxes.db")
	if err := os.WriteFile(p, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := func() string {
		t.Helper()
		s, err := FileIdentity(p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := id()
	if a != id() {
		t.Fatal("identity of an unchanged file changed")
	}
	if err := os.WriteFile(p, []byte("abcd"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := id()
	st, _ := os.Stat(p)
	if err := os.Chtimes(p, st.ModTime(), st.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if c := id(); a == b || b == c {
		t.Fatalf("identity did not change: %q %q %q", a, b, c)
	}
	if _, err := FileIdentity(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("identity of a missing file")
	}
}
