package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/mboxfile"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// sortTestEntries is a mailbox set with what real histories hold: virtual
// domains, group and negative ACLs, a renamed folder (name history, one
// item with `P ""`) whose old name is a tombstone sharing its uniqueid,
// delayed deletes (DELETED.*), entries with an empty partition (location
// `host!`) and entries of two backends; users u/2 of them have an ACL-less
// Drafts. About 7 entries per user.
func sortTestEntries(users int) []mboxlist.Entry {
	var es []mboxlist.Entry
	uid := 0
	mk := func(name, server string, acl mboxlist.ACL) mboxlist.Entry {
		uid++
		e := mboxlist.Entry{Name: name, Type: mboxlist.TypeEmail, Partition: "default", Server: server, ACL: acl,
			UniqueID: fmt.Sprintf("5c8a1f0e-aaaa-4c1e-9a77-%012x", uid), UIDValidity: uint32(1600000000 + uid),
			CreatedModseq: 1, FolderModseq: uint64(uid%97 + 1), Mtime: 1795329329 + int64(uid)}
		return e
	}
	for i := range users {
		user := fmt.Sprintf("u%05d", i)
		dom, owner := "", user
		if i%3 == 0 {
			dom = fmt.Sprintf("example%d.com!", i%4)
			owner = fmt.Sprintf("%s@example%d.com", user, i%4)
		}
		server := "be1"
		if i%2 == 1 {
			server = "be2"
		}
		base := dom + "user." + user
		all := mboxlist.ACLItem{ID: owner, Rights: "lrswipkxtecdan"}
		inbox := mk(base, server, mboxlist.ACL{all})
		if i%5 == 0 {
			inbox.ACL = append(inbox.ACL, mboxlist.ACLItem{ID: "group:staff", Rights: "lr"})
		}
		if i%7 == 0 {
			inbox.ACL = append(inbox.ACL, mboxlist.ACLItem{ID: "-anyone", Rights: "w"})
		}
		es = append(es, inbox, mk(base+".Sent", server, mboxlist.ACL{all}))
		if i%2 == 0 {
			es = append(es, mk(base+".Drafts", server, nil))
		}
		proj := mk(base+".Projects 2026", server, mboxlist.ACL{all})
		proj.History = []mboxlist.HistoryItem{
			{Name: base + ".Old", Mtime: proj.Mtime - 10, UIDValidity: proj.UIDValidity, CreatedModseq: 1, FolderModseq: 2, Partition: "default"},
			{Name: base + ".Older", Mtime: proj.Mtime - 20, UIDValidity: proj.UIDValidity, CreatedModseq: 1, FolderModseq: 1, EmptyPartition: true},
		}
		sub := mk(base+".Projects 2026.Sub", server, mboxlist.ACL{all})
		tomb := mboxlist.Entry{Name: base + ".Old", Type: mboxlist.TypeEmail | mboxlist.FlagDeleted, Partition: "default",
			Server: server, UniqueID: proj.UniqueID, Mtime: proj.Mtime, ACL: mboxlist.ACL{}}
		del := mk(fmt.Sprintf("%sDELETED.user.%s.Trash.6B%06X", dom, user, i), server, mboxlist.ACL{all})
		es = append(es, proj, sub, tomb, del)
		if i%11 == 0 {
			moved := mk(base+".Moving", server, mboxlist.ACL{all})
			moved.Partition = ""
			moved.SetPresent(mboxlist.FieldPartition, true)
			es = append(es, moved)
		}
	}
	return es
}

func writeJSONDump(t *testing.T, path string, es []mboxlist.Entry) {
	t.Helper()
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
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// registryContents lists a leveldb registry: every entry in its stored
// form with its revision.
func registryContents(t *testing.T, url string) []string {
	t.Helper()
	st, err := registry.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []string
	if _, err := st.List(context.Background(), "", func(e registry.Entry) error {
		out = append(out, string(registry.AppendEntryBinary(nil, &e, true)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// An out-of-order JSON dump (shuffled) of a few thousand mailboxes with
// real-history content, sorted through runs on disk (a 16 KB sort buffer),
// fills an empty leveldb registry in one bulk step: the registry holds
// exactly what the in-order dump's import holds (every entry, byte for
// byte, revisions included), verifies equal to the dump, and the sort
// leaves nothing in $TMPDIR. With $TMPDIR missing the import fails with
// exit status 4 naming it, and leaves no registry behind.
func TestImportShuffledJSONSortedOnDisk(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	old := mboxfile.EntrySortBudget
	mboxfile.EntrySortBudget = 16 << 10
	t.Cleanup(func() { mboxfile.EntrySortBudget = old })

	es := sortTestEntries(600)
	mboxfile.SortByDBName(es, nil)
	inOrder := filepath.Join(dir, "inorder.json")
	writeJSONDump(t, inOrder, es)
	rand.New(rand.NewSource(7)).Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
	shuffled := filepath.Join(dir, "shuffled.json")
	writeJSONDump(t, shuffled, es)
	n := len(es)

	a := "leveldb://" + filepath.Join(dir, "a")
	s := importSummary(t, inOrder, "--registry", a, "--checkpoint", filepath.Join(dir, "cp1"))
	if !s.Bulk || s.Created != n || !s.Verified {
		t.Fatalf("in-order dump: %+v, want bulk, %d created, verified", s, n)
	}
	b := "leveldb://" + filepath.Join(dir, "b")
	s = importSummary(t, shuffled, "--registry", b, "--checkpoint", filepath.Join(dir, "cp2"))
	if !s.Bulk || s.Created != n || !s.Verified {
		t.Fatalf("shuffled dump: %+v, want bulk after sorting, %d created, verified", s, n)
	}
	ca, cb := registryContents(t, a), registryContents(t, b)
	if len(ca) != n || !reflect.DeepEqual(ca, cb) {
		t.Fatalf("registries differ: %d entries from the in-order dump, %d from the shuffled one", len(ca), len(cb))
	}
	for _, src := range []string{inOrder, shuffled} {
		if out, _, code := run(t, "verify", src, b); code != 0 {
			t.Fatalf("verify %s: exit %d\n%s", src, code, out)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("left in $TMPDIR: %v", left)
	}

	t.Setenv("TMPDIR", filepath.Join(dir, "missing"))
	c := filepath.Join(dir, "c")
	_, stderr, code := run(t, "import", shuffled, "--registry", "leveldb://"+c, "--checkpoint", filepath.Join(dir, "cp3"))
	if code != exitcode.Output || !strings.Contains(stderr, filepath.Join(dir, "missing")) {
		t.Fatalf("import with $TMPDIR missing: exit %d, want %d naming it\n%s", code, exitcode.Output, stderr)
	}
	if _, err := os.Stat(c); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failed import left %s: %v", c, err)
	}
}
