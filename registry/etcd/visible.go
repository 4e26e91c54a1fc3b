package etcd

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// Visible implements registry.Store: every index range the rules may need is
// read in one transaction (one consistent revision, one round trip).
func (s *Store) Visible(ctx context.Context, userid string, groups []string) ([]string, error) {
	if err := s.check(ctx, "visible", userid); err != nil {
		return nil, err
	}
	all, err := registry.VisiblePrefixes(userid, groups)
	if err != nil {
		return nil, registry.E("visible", userid, err)
	}
	// The "listable" rows of the user's own hierarchy are not stored
	// (see the key layout): the entries under it are read and kept when
	// registry.Listable.
	ops := make([]clientv3.Op, 0, len(all))
	for _, p := range all {
		if db, ok := strings.CutPrefix(p, registry.IndexListable); ok {
			ops = append(ops, clientv3.OpGet(s.ekey(db), clientv3.WithPrefix()))
			continue
		}
		ops = append(ops, clientv3.OpGet(s.xkey(p), clientv3.WithPrefix(), clientv3.WithKeysOnly()))
	}
	resp, err := s.txnReadRetry(ctx, ops...)
	if err != nil {
		return nil, registry.E("visible", userid, wrap(err))
	}
	// The own hierarchy's entries are judged by the one visibility rule,
	// mboxlist.Entry.ListableBy: the user's negative rows on them are not
	// stored either, and a negative `l` hides an own mailbox too. (The
	// prefix also reads look-alikes such as user.davey for dave; the rules
	// below keep only the own hierarchy of what is returned here.)
	who := mboxlist.NewIdentity(userid, groups)
	got := map[string][]string{}
	for i, p := range all {
		db, listable := strings.CutPrefix(p, registry.IndexListable)
		for _, kv := range resp.Responses[i].GetResponseRange().Kvs {
			if !listable {
				got[p] = append(got[p], strings.TrimPrefix(string(kv.Key), s.xkey(p)))
				continue
			}
			rest := strings.TrimPrefix(string(kv.Key), s.ekey(db))
			e, err := s.decodeEntry(kv.Value, kv.Key)
			if err != nil {
				return nil, registry.E("visible", userid, err)
			}
			if e.ListableBy(who, nil) {
				got[p] = append(got[p], rest)
			}
		}
	}
	scan := func(_ context.Context, p string, fn func(string) error) error {
		rows, ok := got[p]
		if !ok && !fetched(all, p) {
			return fmt.Errorf("registry: internal: index prefix %q was not read", p)
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	names, err := registry.VisibleRules(ctx, scan, userid, groups)
	if err != nil {
		return nil, registry.E("visible", userid, err)
	}
	return names, nil
}

func fetched(all []string, p string) bool {
	for _, a := range all {
		if a == p {
			return true
		}
	}
	return false
}
