package leveldb

import (
	"context"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/registry"
)

// List implements registry.Store over one leveldb snapshot.
func (s *Store) List(ctx context.Context, prefix string, fn func(registry.Entry) error) (int64, error) {
	if err := s.check(ctx, "list", prefix); err != nil {
		return 0, err
	}
	r, err := registry.Prefix(prefix)
	if err != nil {
		return 0, registry.E("list", prefix, err)
	}
	snap, rev, err := s.snapshot()
	if err != nil {
		return 0, registry.E("list", prefix, err)
	}
	defer snap.Release()
	it := snap.NewIterator(rangeOf(pfxEntry, r), nil)
	defer it.Release()
	n := 0
	for it.Next() {
		db := string(it.Key()[len(pfxEntry):])
		if !r.Match(db) {
			continue
		}
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, registry.E("list", prefix, err)
			}
		}
		e, err := s.decodeEntry(it.Value(), it.Key())
		if err != nil {
			return 0, registry.E("list", prefix, err)
		}
		if err := fn(e); err != nil {
			return 0, err
		}
	}
	if err := it.Error(); err != nil {
		return 0, registry.E("list", prefix, registry.Unavailable(err))
	}
	return rev, nil
}

func (s *Store) snapshot() (*goleveldb.Snapshot, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return nil, 0, registry.Unavailable(err)
	}
	// The revision the snapshot holds (a group may be on disk before
	// s.rev says so).
	rev, err := readInt(snap, keyRev, s.path)
	if err != nil {
		snap.Release()
		return nil, 0, err
	}
	return snap, rev, nil
}

func rangeOf(pfx string, r registry.PrefixRange) *util.Range {
	if r.All {
		return util.BytesPrefix([]byte(pfx))
	}
	rg := &util.Range{Start: []byte(pfx + r.Start())}
	if end := r.End(); end != "" {
		rg.Limit = []byte(pfx + end)
	} else {
		rg.Limit = util.BytesPrefix([]byte(pfx)).Limit
	}
	return rg
}

// Count implements registry.Store.
func (s *Store) Count(ctx context.Context, prefix string) (int, error) {
	if err := s.check(ctx, "count", prefix); err != nil {
		return 0, err
	}
	r, err := registry.Prefix(prefix)
	if err != nil {
		return 0, registry.E("count", prefix, err)
	}
	it := s.db.NewIterator(rangeOf(pfxEntry, r), nil)
	defer it.Release()
	n := 0
	for it.Next() {
		if r.Match(string(it.Key()[len(pfxEntry):])) {
			n++
		}
	}
	if err := it.Error(); err != nil {
		return 0, registry.E("count", prefix, registry.Unavailable(err))
	}
	return n, nil
}

// Revision implements registry.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.check(ctx, "revision", ""); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev, nil
}
