package leveldb

import (
	"context"
	"errors"
	"fmt"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/registry"
)

func (s *Store) getSlot(g getter, name string) (registry.Slot, bool, error) {
	v, err := g.Get([]byte(pfxSlot+name), nil)
	if errors.Is(err, goleveldb.ErrNotFound) {
		return registry.Slot{}, false, nil
	}
	if err != nil {
		return registry.Slot{}, false, registry.Unavailable(err)
	}
	sl, err := registry.DecodeSlot(v, fmt.Sprintf("%s key %q", s.path, pfxSlot+name))
	return sl, err == nil, err
}

// GetSlot implements registry.Store.
func (s *Store) GetSlot(ctx context.Context, name string) (registry.Slot, error) {
	if err := s.check(ctx, "get-slot", name); err != nil {
		return registry.Slot{}, err
	}
	sl, ok, err := s.getSlot(s.db, name)
	if err != nil {
		return registry.Slot{}, registry.E("get-slot", name, err)
	}
	if !ok {
		return registry.Slot{}, registry.E("get-slot", name, registry.ErrNotFound)
	}
	return sl, nil
}

// ListSlots implements registry.Store, in name order.
func (s *Store) ListSlots(ctx context.Context) ([]registry.Slot, error) {
	if err := s.check(ctx, "list-slots", ""); err != nil {
		return nil, err
	}
	var out []registry.Slot
	it := s.db.NewIterator(util.BytesPrefix([]byte(pfxSlot)), nil)
	defer it.Release()
	for it.Next() {
		sl, err := registry.DecodeSlot(it.Value(), fmt.Sprintf("%s key %q", s.path, it.Key()))
		if err != nil {
			return nil, registry.E("list-slots", "", err)
		}
		out = append(out, sl)
	}
	if err := it.Error(); err != nil {
		return nil, registry.E("list-slots", "", registry.Unavailable(err))
	}
	return out, nil
}

func (s *Store) writeSlot(ctx context.Context, op string, sl registry.Slot, create bool) (registry.Slot, error) {
	if err := s.check(ctx, op, sl.Name); err != nil {
		return registry.Slot{}, err
	}
	if err := registry.ValidateSlot(sl); err != nil {
		return registry.Slot{}, registry.E(op, sl.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		old, exists, err := s.getSlot(pendingReader{s}, sl.Name)
		if err != nil {
			return registry.Slot{}, registry.E(op, sl.Name, err)
		}
		var refusal error
		switch {
		case create && exists:
			refusal = registry.ErrExists
		case !create && !exists:
			refusal = registry.ErrNotFound
		case !create && old.Revision != sl.Revision:
			refusal = fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, sl.Revision, old.Revision)
		}
		if refusal == nil {
			break
		}
		if !s.settle(pfxSlot + sl.Name) {
			return registry.Slot{}, registry.E(op, sl.Name, refusal)
		}
	}
	b := &batch{rev: s.next + 1}
	sl.Revision = b.rev
	b.b.Put([]byte(pfxSlot+sl.Name), registry.EncodeSlot(&sl, true))
	if err := s.commit(b); err != nil {
		return registry.Slot{}, registry.E(op, sl.Name, err)
	}
	return sl, nil
}

// CreateSlot implements registry.Store.
func (s *Store) CreateSlot(ctx context.Context, sl registry.Slot) (registry.Slot, error) {
	return s.writeSlot(ctx, "create-slot", sl, true)
}

// UpdateSlot implements registry.Store.
func (s *Store) UpdateSlot(ctx context.Context, sl registry.Slot) (registry.Slot, error) {
	return s.writeSlot(ctx, "update-slot", sl, false)
}

// DeleteSlot implements registry.Store.
func (s *Store) DeleteSlot(ctx context.Context, name string, rev int64) error {
	if err := s.check(ctx, "delete-slot", name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		old, exists, err := s.getSlot(pendingReader{s}, name)
		if err != nil {
			return registry.E("delete-slot", name, err)
		}
		refusal := casRefusal(exists, rev, old.Revision)
		if refusal == nil {
			break
		}
		if !s.settle(pfxSlot + name) {
			return registry.E("delete-slot", name, refusal)
		}
	}
	b := &batch{rev: s.next + 1}
	b.b.Delete([]byte(pfxSlot + name))
	if err := s.commit(b); err != nil {
		return registry.E("delete-slot", name, err)
	}
	return nil
}
