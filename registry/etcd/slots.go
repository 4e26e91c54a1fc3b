package etcd

import (
	"context"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/registry"
)

// GetSlot implements registry.Store.
func (s *Store) GetSlot(ctx context.Context, name string) (registry.Slot, error) {
	if err := s.check(ctx, "get-slot", name); err != nil {
		return registry.Slot{}, err
	}
	resp, err := s.getRetry(ctx, s.skey(name))
	if err != nil {
		return registry.Slot{}, registry.E("get-slot", name, wrap(err))
	}
	if len(resp.Kvs) == 0 {
		return registry.Slot{}, registry.E("get-slot", name, registry.ErrNotFound)
	}
	sl, err := registry.DecodeSlot(resp.Kvs[0].Value, "etcd key "+strconv.Quote(string(resp.Kvs[0].Key)))
	if err != nil {
		return registry.Slot{}, registry.E("get-slot", name, err)
	}
	sl.Revision = resp.Kvs[0].ModRevision
	return sl, nil
}

// ListSlots implements registry.Store, in name order.
func (s *Store) ListSlots(ctx context.Context) ([]registry.Slot, error) {
	if err := s.check(ctx, "list-slots", ""); err != nil {
		return nil, err
	}
	resp, err := s.getRetry(ctx, s.p+dirSlot, clientv3.WithPrefix())
	if err != nil {
		return nil, registry.E("list-slots", "", wrap(err))
	}
	var out []registry.Slot
	for _, kv := range resp.Kvs {
		sl, err := registry.DecodeSlot(kv.Value, "etcd key "+strconv.Quote(string(kv.Key)))
		if err != nil {
			return nil, registry.E("list-slots", "", err)
		}
		sl.Revision = kv.ModRevision
		out = append(out, sl)
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
	key := s.skey(sl.Name)
	want := sl.Revision
	if create {
		want = 0
	}
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", want)).
		Then(clientv3.OpPut(key, string(registry.EncodeSlot(&sl, false)))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return registry.Slot{}, registry.E(op, sl.Name, wrap(err))
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		switch {
		case create:
			return registry.Slot{}, registry.E(op, sl.Name, registry.ErrExists)
		case len(kvs) == 0:
			return registry.Slot{}, registry.E(op, sl.Name, registry.ErrNotFound)
		default:
			return registry.Slot{}, registry.E(op, sl.Name, fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, sl.Revision, kvs[0].ModRevision))
		}
	}
	sl.Revision = resp.Header.Revision
	return sl, nil
}

// CreateSlot implements registry.Store.
func (s *Store) CreateSlot(ctx context.Context, sl registry.Slot) (registry.Slot, error) {
	return s.writeSlot(ctx, "create-slot", sl, true)
}

// UpdateSlot implements registry.Store.
func (s *Store) UpdateSlot(ctx context.Context, sl registry.Slot) (registry.Slot, error) {
	if sl.Revision == 0 {
		return registry.Slot{}, registry.E("update-slot", sl.Name, fmt.Errorf("%w: no revision given", registry.ErrConflict))
	}
	return s.writeSlot(ctx, "update-slot", sl, false)
}

// DeleteSlot implements registry.Store.
func (s *Store) DeleteSlot(ctx context.Context, name string, rev int64) error {
	if err := s.check(ctx, "delete-slot", name); err != nil {
		return err
	}
	key := s.skey(name)
	cmp := clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	if rev != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", rev)
	}
	resp, err := s.cli.Txn(ctx).If(cmp).Then(clientv3.OpDelete(key)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return registry.E("delete-slot", name, wrap(err))
	}
	if !resp.Succeeded {
		if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return registry.E("delete-slot", name, registry.ErrNotFound)
		}
		return registry.E("delete-slot", name, fmt.Errorf("%w: revision changed", registry.ErrConflict))
	}
	return nil
}
