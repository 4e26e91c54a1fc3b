package leveldb

import (
	"bytes"
	"context"

	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/registry"
)

// Visible implements registry.Store over the reverse-ACL index, read from
// one snapshot.
func (s *Store) Visible(ctx context.Context, userid string, groups []string) ([]string, error) {
	if err := s.check(ctx, "visible", userid); err != nil {
		return nil, err
	}
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return nil, registry.E("visible", userid, registry.Unavailable(err))
	}
	defer snap.Release()
	// One iterator for every prefix (creating a leveldb iterator costs more
	// than seeking one).
	it := snap.NewIterator(util.BytesPrefix([]byte(pfxIndex)), nil)
	defer it.Release()
	scan := func(ctx context.Context, prefix string, fn func(string) error) error {
		p := []byte(pfxIndex + prefix)
		for ok := it.Seek(p); ok && bytes.HasPrefix(it.Key(), p); ok = it.Next() {
			if err := fn(string(it.Key()[len(p):])); err != nil {
				return err
			}
		}
		if err := it.Error(); err != nil {
			return registry.Unavailable(err)
		}
		return nil
	}
	names, err := registry.VisibleRules(ctx, scan, userid, groups)
	if err != nil {
		return nil, registry.E("visible", userid, err)
	}
	return names, nil
}
