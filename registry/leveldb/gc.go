package leveldb

import (
	"context"
	"fmt"
	"time"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/registry"
)

// GCTombstones implements registry.Store; it also trims the change log to
// KeepChanges revisions.
func (s *Store) GCTombstones(ctx context.Context, cutoff time.Time) (int, error) {
	if err := s.check(ctx, "gc", ""); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b goleveldb.Batch
	n := 0
	it := s.db.NewIterator(util.BytesPrefix([]byte(pfxTomb)), nil)
	for it.Next() {
		t, err := registry.DecodeTombstone(it.Value(), fmt.Sprintf("%s key %q", s.path, it.Key()))
		if err != nil {
			it.Release()
			return 0, registry.E("gc", "", err)
		}
		if _, busy := s.pending[string(it.Key())]; busy {
			continue // rewritten by a group not yet on disk
		}
		if t.Time.Before(cutoff) {
			b.Delete(append([]byte(nil), it.Key()...))
			n++
		}
	}
	err := it.Error()
	it.Release()
	if err != nil {
		return 0, registry.E("gc", "", registry.Unavailable(err))
	}
	if floor := s.rev - KeepChanges + 1; floor > 1 {
		old, err := s.getInt(keyFloor)
		if err != nil {
			return 0, registry.E("gc", "", err)
		}
		if floor > old {
			it := s.db.NewIterator(&util.Range{Start: changeKey(old), Limit: changeKey(floor)}, nil)
			for it.Next() {
				b.Delete(append([]byte(nil), it.Key()...))
			}
			it.Release()
			b.Put([]byte(keyFloor), be64(floor))
		}
	}
	if b.Len() == 0 {
		return 0, nil
	}
	if err := s.db.Write(&b, s.wo); err != nil {
		return 0, registry.E("gc", "", registry.Unavailable(err))
	}
	return n, nil
}

// Slots.

// Compact compacts the whole key space (leveldb's CompactRange): after a
// bulk import, reads then find every key in few tables. Reads and writes
// may continue meanwhile.
func (s *Store) Compact(ctx context.Context) error {
	if err := s.check(ctx, "compact", ""); err != nil {
		return err
	}
	if err := s.db.CompactRange(util.Range{}); err != nil {
		return registry.E("compact", "", registry.Unavailable(err))
	}
	return nil
}
