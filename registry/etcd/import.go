package etcd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/registry"
)

// importItem is one name of an Import.
type importItem struct {
	e    registry.Entry
	val  []byte
	keys int // index rows of e
	size int // bytes of the keys and values it puts
}

// Import implements registry.Store: entries, in dbname order, are packed
// into chunks of at most MaxTxnOps operations and ImportTxnBytes bytes of
// keys and values, run by ImportWorkers at once. A chunk is first written as one transaction compared on "no entry
// and no tombstone in the chunk's key range" (importFresh): an import into
// an empty registry, or a new part of one, is one round trip per chunk with
// two compares. Otherwise each name is compared on its own state (read back
// in the Else branch) and written over it. One transaction's entries share
// its revision.
func (s *Store) Import(ctx context.Context, entries []registry.Entry) (registry.ImportStats, error) {
	if err := s.check(ctx, "import", ""); err != nil {
		return registry.ImportStats{}, err
	}
	// Last occurrence of a name wins; entries are handled in dbname order.
	byDB := make(map[string]*importItem, len(entries))
	for _, e := range entries {
		if err := registry.Prepare(&e); err != nil {
			return registry.ImportStats{}, registry.E("import", e.Name, err)
		}
		byDB[registry.DBName(e.Name)] = &importItem{e: e}
	}
	dbs := make([]string, 0, len(byDB))
	for db, it := range byDB {
		dbs = append(dbs, db)
		it.val = s.encode(&it.e)
		rows := indexRows(&it.e)
		it.keys = len(rows)
		it.size = len(s.ekey(db)) + len(it.val)
		for _, r := range rows {
			it.size += len(s.xkey(r))
		}
	}
	sort.Strings(dbs)
	// Chunks that fit one transaction when every name is new (importFresh):
	// the entry and its index rows, within MaxTxnOps operations and
	// ImportTxnBytes bytes. When some are not new, importChunk needs more
	// transactions for the chunk.
	var chunks [][]string
	for i := 0; i < len(dbs); {
		j, nops, size := i, 0, 0
		for j < len(dbs) && j-i < s.o.MaxTxnOps && (j == i ||
			(nops+byDB[dbs[j]].keys+1 <= s.o.MaxTxnOps && size+byDB[dbs[j]].size <= s.o.ImportTxnBytes)) {
			nops += byDB[dbs[j]].keys + 1
			size += byDB[dbs[j]].size
			j++
		}
		chunks = append(chunks, dbs[i:j])
		i = j
	}
	var (
		mu    sync.Mutex
		st    registry.ImportStats
		first error
		wg    sync.WaitGroup
		next  = make(chan []string)
	)
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(s.o.ImportWorkers, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range next {
				cs, err := s.importChunk(ictx, chunk, byDB)
				mu.Lock()
				st.Created += cs.Created
				st.Updated += cs.Updated
				st.Unchanged += cs.Unchanged
				if err != nil && first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, c := range chunks {
		select {
		case next <- c:
		case <-ictx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return st, registry.E("import", "", first)
	}
	if err := ctx.Err(); err != nil {
		return st, registry.E("import", "", err)
	}
	return st, nil
}

// importChunk writes a chunk's names in as few transactions as the op
// limit allows, each compared on the state assumed for its names (absent
// until read back; an import fills a new registry); a
// transaction that fails returns their current state (Else), and they are
// decided again: unchanged ones are left alone, changed ones rewritten over
// what was read.
func (s *Store) importChunk(ctx context.Context, dbs []string, byDB map[string]*importItem) (registry.ImportStats, error) {
	var st registry.ImportStats
	states := make(map[string]state) // names read back; the others are assumed absent
	if ok, err := s.importFresh(ctx, dbs, byDB, states); err != nil {
		return st, err
	} else if ok {
		st.Created += len(dbs)
		return st, nil
	}
	pending := dbs
	transient := 0
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxRetries {
			return st, fmt.Errorf("%w: names still changing after %d attempts", registry.ErrConflict, maxRetries)
		}
		type item struct {
			db    string
			ops   []clientv3.Op
			ncmps int
			upd   bool
		}
		var items []item
		var retry []string
		for _, db := range pending {
			it := byDB[db]
			c := states[db]
			var oldp *registry.Entry
			if c.exists() {
				if s.sameStored(db, c.eval, it.val) {
					st.Unchanged++
					continue
				}
				old, err := c.entry(db, s.ekey(db))
				if err != nil {
					return st, err
				}
				oldp = &old
			}
			// Import overrides tombstones: the tombstone key is removed
			// whatever it holds, so only the entry key is compared.
			ops := s.putOps(&it.e, it.val, oldp, true)
			if len(ops) > s.o.MaxTxnOps {
				return st, fmt.Errorf("entry %q needs %d operations in one transaction, more than --max-txn-ops %d: %w", it.e.Name, len(ops), s.o.MaxTxnOps, registry.ErrInvalid)
			}
			ncmps := 1
			if c.exists() {
				ncmps = 2
			}
			items = append(items, item{db: db, ops: ops, ncmps: ncmps, upd: oldp != nil})
		}
		// Pack items into transactions (operations, compares and Else
		// reads each within the limit, and what they put within
		// ImportTxnBytes).
		for len(items) > 0 {
			n, nops, ncmps, size := 0, 0, 0, 0
			for n < len(items) && n < s.o.MaxTxnOps && (n == 0 ||
				(nops+len(items[n].ops) <= s.o.MaxTxnOps && ncmps+items[n].ncmps <= s.o.MaxTxnOps &&
					size+byDB[items[n].db].size <= s.o.ImportTxnBytes)) {
				nops += len(items[n].ops)
				ncmps += items[n].ncmps
				size += byDB[items[n].db].size
				n++
			}
			cmps := make([]clientv3.Cmp, 0, ncmps)
			ops := make([]clientv3.Op, 0, nops)
			reads := make([]clientv3.Op, 0, n)
			for _, it := range items[:n] {
				c := states[it.db]
				ek := s.ekey(it.db)
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(ek), "=", c.emod))
				if c.exists() {
					cmps = append(cmps, clientv3.Compare(clientv3.Value(ek), "=", string(c.eval)))
				}
				ops = append(ops, it.ops...)
				reads = append(reads, clientv3.OpGet(ek))
			}
			resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(reads...).Commit()
			if err != nil {
				// A timeout may or may not have applied the transaction: it
				// is compared on what was assumed, so trying again is safe
				// (an applied one then fails its compare and reads back as
				// unchanged).
				if transient++; transient > maxTransient || ctx.Err() != nil {
					return st, wrap(err)
				}
				backoff(ctx, transient)
				for _, it := range items {
					retry = append(retry, it.db)
				}
				break
			}
			if resp.Succeeded {
				for _, it := range items[:n] {
					if it.upd {
						st.Updated++
					} else {
						st.Created++
					}
				}
			} else {
				for i, it := range items[:n] {
					states[it.db] = stateOf(resp.Responses[i].GetResponseRange(), nil)
					retry = append(retry, it.db)
				}
			}
			items = items[n:]
		}
		pending = retry
	}
	return st, nil
}

// importFresh is importChunk's first attempt, for the common case of names
// that are new and were never deleted: one transaction whose two compares
// cover the whole chunk's range of entry and tombstone keys ("no key in the
// range") instead of one compare and one tombstone removal per name. It
// reports whether that applied. When it did not, it fills states with the
// chunk's names that exist (read in its Else branch) for the per-name
// transactions that follow; an error of the cluster is left to those too
// (they compare per name, so a transaction that did apply reads back as
// unchanged).
func (s *Store) importFresh(ctx context.Context, dbs []string, byDB map[string]*importItem, states map[string]state) (bool, error) {
	first, last := dbs[0], dbs[len(dbs)-1]
	ekFirst, ekEnd := s.ekey(first), s.ekey(last)+"\x00"
	tkFirst, tkEnd := s.tkey(first), s.tkey(last)+"\x00"
	nops := 0
	for _, db := range dbs {
		nops += 1 + byDB[db].keys
	}
	if nops > s.o.MaxTxnOps {
		return false, nil
	}
	ops := make([]clientv3.Op, 0, nops)
	for _, db := range dbs {
		it := byDB[db]
		ops = append(ops, s.putOps(&it.e, it.val, nil, false)...)
	}
	resp, err := s.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(ekFirst), "=", 0).WithRange(ekEnd),
		clientv3.Compare(clientv3.ModRevision(tkFirst), "=", 0).WithRange(tkEnd),
	).Then(ops...).Else(clientv3.OpGet(ekFirst, clientv3.WithRange(ekEnd))).Commit()
	if err != nil {
		if ctx.Err() != nil {
			return false, wrap(err)
		}
		return false, nil
	}
	if resp.Succeeded {
		return true, nil
	}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		db := strings.TrimPrefix(string(kv.Key), s.p+dirEntry)
		if _, ok := byDB[db]; ok {
			states[db] = state{known: true, emod: kv.ModRevision, eval: kv.Value}
		}
	}
	return false, nil
}

// maxTransient bounds the retries of an Import chunk after errors such as
// "etcdserver: request timed out" or a leader change.
const maxTransient = 8

func backoff(ctx context.Context, n int) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(n) * 250 * time.Millisecond):
	}
}
