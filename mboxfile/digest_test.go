package mboxfile

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/murderkit/murderkit/convert"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// manyEntries are n mailboxes with ACLs, servers and partitions; every 97th
// was renamed (a name history, which a 3.6 file keeps in the I record) and
// every 101st left a tombstone under its old name that shares its uniqueid,
// as Cyrus's RENAME does.
func manyEntries(n int) []mboxlist.Entry {
	var all []mboxlist.Entry
	for i := range n {
		e := mboxlist.Entry{Name: fmt.Sprintf("user.u%05d", i), Type: mboxlist.TypeEmail, Partition: fmt.Sprintf("p%d", i%3),
			Server: fmt.Sprintf("be%d", i%2), UniqueID: fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(i*2654435761), i),
			UIDValidity: uint32(1600000000 + i), CreatedModseq: 1, FolderModseq: uint64(i + 1), Mtime: int64(1700000000 + i),
			ACL: mboxlist.ACL{{ID: fmt.Sprintf("u%05d", i), Rights: "lrswipkxtecdan"}, {ID: "admin", Rights: "lrswipkxtecda"}}}
		if i%97 == 0 || i%101 == 0 {
			old := fmt.Sprintf("user.old%05d", i)
			e.History = []mboxlist.HistoryItem{{Name: old, Mtime: 1700000000, UIDValidity: uint32(1000 + i), CreatedModseq: 1, FolderModseq: 2, Type: mboxlist.TypeEmail, Partition: "p1"}}
			if i%101 == 0 {
				all = append(all, mboxlist.Entry{Name: old, Type: mboxlist.TypeEmail | mboxlist.FlagDeleted, UniqueID: e.UniqueID,
					UIDValidity: uint32(1000 + i), CreatedModseq: 1, FolderModseq: 2, Mtime: 1700000000})
			}
		}
		all = append(all, e)
	}
	return all
}

// writeMany writes entries as a 3.6 twoskip file.
func writeMany(t *testing.T, all []mboxlist.Entry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "many.db")
	if err := WriteDB(path, dbfile.KindTwoskip, mboxlist.V36, all, &mboxlist.EncodeOptions{}, false); err != nil {
		t.Fatal(err)
	}
	return path
}

// plainDigest digests a file one entry at a time (Source.Entries, one
// goroutine), the reference for the parallel digestDB36.
func plainDigest(t *testing.T, path string) *convert.Digest {
	t.Helper()
	src := open(t, path, OpenOptions{})
	d := &convert.Digest{}
	err := src.Entries(context.Background(), func(e *mboxlist.Entry) error {
		re := registry.Entry{Entry: *e}
		re.Normalize()
		d.Add(&re)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDigestDB36 checks the parallel read-back digest (FileDigest of a 3.6
// database file) against the plain one on a file of many entries with name
// histories and tombstones sharing a uniqueid, and on files real Cyrus
// wrote, on 1 and 3 workers; and that a missing entry or a changed history
// shows.
func TestDigestDB36(t *testing.T) {
	ctx := context.Background()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	all := manyEntries(3000)
	many := writeMany(t, all)
	for _, path := range []string{many, filepath.Join(fixtures, "types.twoskip.db"), filepath.Join(fixtures, "sample.skiplist.db")} {
		want := plainDigest(t, path)
		for _, procs := range []int{1, 3} {
			runtime.GOMAXPROCS(procs)
			got, err := FileDigest(ctx, path, false, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := want.Compare(got); d != nil || got.Total() == 0 {
				t.Fatalf("%s, %d workers: %v (%d entries)", path, procs, d, got.Total())
			}
		}
	}
	// One entry less, and one history changed: both differ.
	for name, edit := range map[string]func([]mboxlist.Entry) []mboxlist.Entry{
		"missing": func(a []mboxlist.Entry) []mboxlist.Entry { return append(a[:1234:1234], a[1235:]...) },
		"history": func(a []mboxlist.Entry) []mboxlist.Entry {
			b := append([]mboxlist.Entry(nil), a...)
			for i := range b {
				if b[i].Name == "user.u00970" {
					b[i].History = []mboxlist.HistoryItem{b[i].History[0]}
					b[i].History[0].Name = "user.old00971"
				}
			}
			return b
		},
	} {
		got, err := FileDigest(ctx, writeMany(t, edit(all)), false, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d := plainDigest(t, many).Compare(got); len(d) == 0 {
			t.Fatalf("%s: the digest did not change", name)
		}
	}
}
