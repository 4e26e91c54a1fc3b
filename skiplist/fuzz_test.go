package skiplist

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/cyrusdb/cyrusdbtest"
)

func seeds(f *testing.F) {
	cyrusdbtest.AddFileSeeds(f)
	base := build(f, cyrusdbtest.SampleRecords(3))
	f.Add(base)
	f.Add(withLog(base))
	f.Add([]byte{})
}

// FuzzSkiplist: no panic; every failure is a *cyrusdb.CorruptError; Salvage
// never panics; a file that reads cleanly round-trips through the writer.
func FuzzSkiplist(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		Salvage(bytes.NewReader(data), int64(len(data)), func(k, v []byte) error { return nil })
		got, _, err := readAll(data)
		if err != nil {
			var ce *cyrusdb.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *CorruptError", err, err)
			}
			return
		}
		db, _ := NewReader(bytes.NewReader(data), int64(len(data)))
		db.Get([]byte("beta"))
		p := filepath.Join(t.TempDir(), "rt.db")
		if err := Write(p, nil, db); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		b, _ := os.ReadFile(p)
		again, _, err := readAll(b)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("round trip: err %v, equal %v", err, bytes.Equal(again, got))
		}
	})
}

func TestFixtures(t *testing.T) {
	cyrusdbtest.CheckFixtures(t, 2, func(raw []byte) ([]byte, error) {
		got, _, err := readAll(raw)
		return got, err
	})
}
