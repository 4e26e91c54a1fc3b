package leveldb

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	goleveldb "github.com/syndtr/goleveldb/leveldb"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// A store written before format "2" (JSON entries) is read, upgraded on
// open, and a re-import of the same content leaves it unchanged; new
// writes are compact.
func TestFormatVersion1Upgrade(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "reg")
	e := registry.Entry{}
	e.Name = "user.old"
	e.Server, e.Partition = "be1", "default"
	e.ACL = mboxlist.ACL{{ID: "old", Rights: "lrswipkxtecdan"}}
	e.UniqueID, e.UIDValidity = "abc", 7
	e.Normalize()
	e.Revision = 1
	db, err := goleveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	js := registry.EncodeEntry(&e, true)
	var b goleveldb.Batch
	b.Put([]byte(keyVer), []byte("1"))
	b.Put([]byte(keyRev), be64(1))
	b.Put([]byte(pfxEntry+registry.DBName(e.Name)), js)
	b.Put(changeKey(1), append([]byte{chPut}, js...))
	if err := db.Write(&b, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, e.Name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Fatalf("JSON entry read back (-want +got):\n%s", diff)
	}
	if v, _ := s.db.Get([]byte(keyVer), nil); string(v) != version {
		t.Fatalf("format version after open %q", v)
	}
	again := e
	again.Revision = 0
	st, err := s.Import(ctx, []registry.Entry{again})
	if err != nil || st.Unchanged != 1 || st.Created+st.Updated != 0 {
		t.Fatalf("re-import of a JSON-stored entry: %+v %v", st, err)
	}
	got.ACL = append(got.ACL, mboxlist.ACLItem{ID: "anyone", Rights: "lr"})
	if _, err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	raw, err := s.db.Get([]byte(pfxEntry+registry.DBName(e.Name)), nil)
	if err != nil || raw[0] != 0x01 || len(raw) >= len(js)+10 {
		t.Fatalf("stored after update: %q %v", raw, err)
	}
	ch := s.Watch(ctx, 0)
	for r := int64(1); r <= 2; r++ {
		ev := <-ch
		if ev.Err != nil || ev.Revision != r || ev.Entry.Name != e.Name {
			t.Fatalf("watch: %+v", ev)
		}
	}
}

// An intermediate entry indexed by an earlier version (its "l" row) loses
// the row when it is deleted, so Visible stops returning it.
func TestLegacyIntermediateRowRemoved(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "reg"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := registry.Entry{}
	e.Name = "user.fred.Proj"
	e.Type = mboxlist.FlagIntermediate
	e.Server, e.Partition = "be1", "default"
	got, err := s.Create(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	legacy := registry.StoredIndexKeys(&got)
	if len(legacy) == 0 || len(registry.IndexKeys(&got)) != 0 {
		t.Fatalf("keys: stored %q, now %q", legacy, registry.IndexKeys(&got))
	}
	for _, k := range legacy { // as the earlier version wrote them
		if err := s.db.Put([]byte(pfxIndex+k), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := s.Visible(ctx, "fred", nil); len(v) != 1 {
		t.Fatalf("legacy row not in place: %q", v)
	}
	if _, err := s.Delete(ctx, e.Name, got.Revision); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Visible(ctx, "fred", nil); err != nil || len(v) != 0 {
		t.Fatalf("after delete: %q %v", v, err)
	}
}

// A corrupt stored entry is an error naming the directory, the key and the
// offset, from Get, List and Watch alike.
func TestCorruptEntryNamesPlace(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "reg")
	s, err := Open(ctx, dir, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := registry.Entry{}
	e.Name = "user.bad"
	e.Server, e.Partition = "be1", "default"
	if _, err := s.Create(ctx, e); err != nil {
		t.Fatal(err)
	}
	bad := []byte{0x01, 0x05, 'u'} // name length 5, one byte left
	if err := s.db.Put([]byte(pfxEntry+registry.DBName(e.Name)), bad, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Put(changeKey(1), append([]byte{chPut}, bad...), nil); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "offset") {
			t.Errorf("%s: %v, want the directory, the key and the offset", what, err)
		}
	}
	_, err = s.Get(ctx, e.Name)
	check("Get", err)
	_, err = s.List(ctx, "", func(registry.Entry) error { return nil })
	check("List", err)
	ev := <-s.Watch(ctx, 0)
	check("Watch", ev.Err)
}
