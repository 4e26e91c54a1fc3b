package etcd

import (
	"strconv"
	"sync"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/registry"
)

// state is what a write believes about the two keys of one name: the entry
// key and the tombstone key, each with its ModRevision (0: absent) and
// stored value.
//
// A write turns its state into a transaction compared on exactly that state
// (both ModRevisions, and the entry's stored bytes), whose Else branch reads
// both keys back. So a state may be a guess (a cached earlier read, or
// "absent" for a fresh name): a wrong guess costs one failed transaction,
// whose Else answer is the cluster's current state (read in the same raft
// step as the compare, so linearizable), never a wrong write. Only a known
// state (known true) may turn into an error for the caller (ErrExists,
// ErrNotFound, ErrConflict, ErrTombstoned).
type state struct {
	emod  int64
	eval  []byte
	tmod  int64
	tval  []byte
	known bool
}

func (c *state) exists() bool  { return c.emod != 0 }
func (c *state) hasTomb() bool { return c.tmod != 0 }

// cmps compares the entry and tombstone keys with c.
func (c *state) cmps(ek, tk string) []clientv3.Cmp {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(ek), "=", c.emod)}
	if c.exists() {
		// The bytes too: the old entry's index rows are derived from them,
		// so a cached value can never be trusted on its revision alone (a
		// cluster restored from an older snapshot reuses revisions).
		cmps = append(cmps, clientv3.Compare(clientv3.Value(ek), "=", string(c.eval)))
	}
	return append(cmps, clientv3.Compare(clientv3.ModRevision(tk), "=", c.tmod))
}

// stateOf reads the state from two range responses (entry, tombstone).
func stateOf(er, tr *etcdserverpb.RangeResponse) state {
	c := state{known: true}
	if len(er.Kvs) == 1 {
		c.emod, c.eval = er.Kvs[0].ModRevision, er.Kvs[0].Value
	}
	if tr != nil && len(tr.Kvs) == 1 {
		c.tmod, c.tval = tr.Kvs[0].ModRevision, tr.Kvs[0].Value
	}
	return c
}

// entry decodes the stored entry of c (which must exist) under dbname db,
// key ek.
func (c *state) entry(db, ek string) (registry.Entry, error) {
	e, err := registry.DecodeEntryKeyed(c.eval, db, "")
	if err != nil {
		_, err = registry.DecodeEntryKeyed(c.eval, db, "etcd key "+strconv.Quote(ek))
		return registry.Entry{}, err
	}
	e.Revision = c.emod
	return e, nil
}

// tomb decodes the stored tombstone of c (which must exist).
func (c *state) tomb(tk string) (registry.Tombstone, error) {
	t, err := registry.DecodeTombstone(c.tval, "etcd key "+strconv.Quote(tk))
	if err != nil {
		return registry.Tombstone{}, err
	}
	t.Revision = c.tmod
	return t, nil
}

// stateCache remembers the last state this client read or wrote for a
// name, as the first guess of the next write: MUPDATE's writes read the
// entry (Get) and then write it (Update) with the revision they read, so
// the write needs no read of its own. Bounded; an evicted or wrong guess
// only costs a round trip.
type stateCache struct {
	mu  sync.Mutex
	m   map[string]state
	max int
}

func newStateCache(max int) *stateCache {
	return &stateCache{m: make(map[string]state), max: max}
}

func (c *stateCache) get(db string) (state, bool) {
	if c.max <= 0 {
		return state{}, false
	}
	c.mu.Lock()
	st, ok := c.m[db]
	c.mu.Unlock()
	st.known = false
	return st, ok
}

func (c *stateCache) put(db string, st state) {
	if c.max <= 0 {
		return
	}
	st.known = false
	c.mu.Lock()
	if _, ok := c.m[db]; !ok && len(c.m) >= c.max {
		// Drop an arbitrary eighth (map order): cheap, and a dropped
		// guess costs only a round trip.
		n := c.max / 8
		for k := range c.m {
			delete(c.m, k)
			if n--; n <= 0 {
				break
			}
		}
	}
	c.m[db] = st
	c.mu.Unlock()
}
