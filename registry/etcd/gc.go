package etcd

import (
	"context"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/registry"
)

// GCTombstones implements registry.Store.
func (s *Store) GCTombstones(ctx context.Context, cutoff time.Time) (int, error) {
	if err := s.check(ctx, "gc", ""); err != nil {
		return 0, err
	}
	start, end := s.p+dirTomb, prefixEnd(s.p+dirTomb)
	n := 0
	for {
		resp, err := s.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(pageSize))
		if err != nil {
			return n, registry.E("gc", "", wrap(err))
		}
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			r, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
			if err != nil {
				return wrap(err)
			}
			if r.Succeeded {
				n += len(ops)
			}
			cmps, ops = nil, nil
			return nil
		}
		for _, kv := range resp.Kvs {
			t, err := registry.DecodeTombstone(kv.Value, "etcd key "+strconv.Quote(string(kv.Key)))
			if err != nil {
				return n, registry.E("gc", "", err)
			}
			if !t.Time.Before(cutoff) {
				continue
			}
			// Only if unchanged since read (a re-delete writes a new one).
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision))
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
			if len(ops) == s.o.MaxTxnOps {
				if err := flush(); err != nil {
					return n, registry.E("gc", "", err)
				}
			}
		}
		if err := flush(); err != nil {
			return n, registry.E("gc", "", err)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return n, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Slots.
