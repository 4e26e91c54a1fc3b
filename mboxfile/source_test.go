package mboxfile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
	"github.com/murderkit/murderkit/mboxlist"
)

const fixtures = "../testdata"

// open opens a fixture of the sniffed kind.
func open(t *testing.T, path string, o OpenOptions) *Source {
	t.Helper()
	kind, err := dbfile.Sniff(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(context.Background(), path, kind, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// TestWriteJSONMatchesCyrus: every 3.6 database fixture real Cyrus wrote,
// read as a Source and written by WriteJSON (the parallel path of
// writeJSON36), gives the bytes real Cyrus 3.6.1 `ctl_mboxlist -d` printed
// for it (testdata/NAME.json); so does the JSON dump itself read back, and
// a crash tail is handed to OnTail, not dropped silently.
func TestWriteJSONMatchesCyrus(t *testing.T) {
	for _, name := range []string{"sample.twoskip.db", "sample.skiplist.db", "types.twoskip.db", "empty.twoskip.db",
		"empty.skiplist.db", "logform.twoskip.db", "logform.skiplist.db", "crash.twoskip.db", "crash.skiplist.db"} {
		path := filepath.Join(fixtures, name)
		want, err := os.ReadFile(path + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var tail *cyrusdb.Tail
		src := open(t, path, OpenOptions{OnTail: func(tl *cyrusdb.Tail) { tail = tl }})
		if src.Version != mboxlist.V36 || !src.Kind.IsDB() {
			t.Fatalf("%s: version %v, kind %v", name, src.Version, src.Kind)
		}
		if (tail != nil) != strings.HasPrefix(name, "crash.") {
			t.Errorf("%s: crash tail %v", name, tail)
		}
		var got bytes.Buffer
		if err := WriteJSON(context.Background(), &got, src); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: WriteJSON differs from Cyrus's ctl_mboxlist -d (%d bytes, want %d)", name, got.Len(), len(want))
		}
		var again bytes.Buffer
		if err := WriteJSON(context.Background(), &again, open(t, path+".json", OpenOptions{})); err != nil {
			t.Fatalf("%s.json: %v", name, err)
		}
		if !bytes.Equal(again.Bytes(), want) {
			t.Errorf("%s.json read back and written differs from itself", name)
		}
	}
}

// TestSourceDamage: a damaged database file is an Input error that names
// the file and the offset; a file cut short inside a legacy dump line is
// refused, never read as a shorter line.
func TestSourceDamage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtures, "sample.twoskip.db"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	err = func() error {
		src, err := Open(context.Background(), bad, dbfile.KindTwoskip, OpenOptions{})
		if err != nil {
			return err
		}
		defer src.Close()
		return WriteJSON(context.Background(), &bytes.Buffer{}, src)
	}()
	var ce *cyrusdb.CorruptError
	if ClassOf(err) != Input || !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Fatalf("damaged file: %v (class %d), want an Input error naming %s and the offset", err, ClassOf(err), bad)
	}
	cut := filepath.Join(t.TempDir(), "cut.lines")
	if err := os.WriteFile(cut, []byte("user.a\t0 default anyone\tlrs\t\nuser.b\t0 defa"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadDump(cut, dbfile.KindLegacy, 0)
	if ClassOf(err) != Input || !strings.Contains(err.Error(), "no final newline") {
		t.Fatalf("legacy dump cut short: %v", err)
	}
}

// TestCount: a 3.6 database file real Cyrus wrote counts its mailboxes
// (the N records: as many entries as Entries yields); dumps and older files
// say it is not cheap to know.
func TestCount(t *testing.T) {
	for name, cheap := range map[string]bool{"sample.twoskip.db": true, "sample.skiplist.db": true, "types.twoskip.db": true,
		"empty.twoskip.db": true, "sample.twoskip.db.json": false, "v2x.skiplist.db": false, "v34.twoskip.db": false} {
		src := open(t, filepath.Join(fixtures, name), OpenOptions{})
		n, ok := src.Count()
		if !cheap {
			if ok {
				t.Errorf("%s: Count = %d, want not known", name, n)
			}
			continue
		}
		var want int64
		if err := src.Entries(context.Background(), func(*mboxlist.Entry) error { want++; return nil }); err != nil {
			t.Fatal(err)
		}
		if !ok || n != want || (want == 0) != strings.HasPrefix(name, "empty.") {
			t.Errorf("%s: Count = %d, %v; want %d", name, n, ok, want)
		}
	}
}
