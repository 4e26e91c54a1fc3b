package etcd

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Group commit. Every single-name write (Create, Update, Put, Delete) is
// one etcd transaction compared on the name's state. Writes of different
// names that wait at the same time are sent as one transaction: the
// conjunction of their comparisons, then all their operations. etcd
// applies it atomically, so when it succeeds every write in it has
// succeeded exactly as it would have alone (their keys are disjoint: one
// write per name in a group), at one shared revision; when any comparison
// fails nothing was applied, and each write is sent again alone, to get
// its own answer. One raft round (and one fsync on each member) then
// carries many writes: with 16 MUPDATE clients on three bridges, writes
// were bound by raft rounds, not by CPU (docs/benchmarks.md, "etcd trio").

// groupInFlight is how many group transactions one Store has in flight
// at a time; writes that come while they are out wait for the next.
const groupInFlight = 2

// groupStall is how long a queued write waits for a sender before it
// starts one more (at most groupMaxSenders in all).
const (
	groupStall      = 100 * time.Millisecond
	groupMaxSenders = 16
)

// groupMax bounds the writes of one group.
const groupMax = 128

// groupTimeout bounds a group transaction with its resends.
const groupTimeout = 30 * time.Second

type txnReq struct {
	ctx      context.Context
	key      string // the name's entry key: one write per name in a group
	cmps     []clientv3.Cmp
	ops, els []clientv3.Op

	done   chan struct{}
	resp   *clientv3.TxnResponse
	resent bool
	err    error
}

type grouper struct {
	mu       sync.Mutex
	queue    []*txnReq
	inflight int

	groups, grouped, failed atomic.Int64 // transactions of ≥ 2 writes, their writes, those that failed (tests)
}

// txn commits one write's transaction, in a group with others when they
// wait at the same time. The answer is commit's: the response (on success
// only its header; on failure the Else branch's results), whether it was
// sent again after a timeout, and the error.
func (s *Store) txn(ctx context.Context, key string, cmps []clientv3.Cmp, ops, els []clientv3.Op) (*clientv3.TxnResponse, bool, error) {
	if s.o.NoGroupCommit {
		return s.commit(ctx, cmps, ops, els)
	}
	r := &txnReq{ctx: ctx, key: key, cmps: cmps, ops: ops, els: els, done: make(chan struct{})}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.inflight < groupInFlight {
		g.inflight++
		go s.runGroups()
	}
	g.mu.Unlock()
	// A group that hangs (its member was killed; commit resends it after
	// attemptTimeout) must not hold up the writes queued behind it: a write
	// still queued after groupStall gets a sender of its own, up to
	// groupMaxSenders.
	t := time.NewTimer(groupStall)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return r.resp, r.resent, r.err
		case <-t.C:
			g.mu.Lock()
			if g.inflight < groupMaxSenders && slices.Contains(g.queue, r) {
				g.inflight++
				go s.runGroups()
			}
			g.mu.Unlock()
			t.Reset(groupStall)
		}
	}
}

// runGroups sends groups until no write waits.
func (s *Store) runGroups() {
	g := &s.group
	for {
		g.mu.Lock()
		batch := s.takeGroup()
		if len(batch) == 0 {
			g.inflight--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		s.sendGroup(batch)
	}
}

// takeGroup removes from the queue, in order, the writes of one group:
// one per name, within the cluster's --max-txn-ops for comparisons and
// operations. Writes whose context has ended are answered at once.
func (s *Store) takeGroup() []*txnReq {
	g := &s.group
	var batch []*txnReq
	var keys map[string]bool
	ncmp, nops := 0, 0
	rest := g.queue[:0] // what stays queued (rest never overtakes i)
	for i, r := range g.queue {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		if len(batch) == groupMax {
			rest = append(rest, g.queue[i:]...)
			break
		}
		if len(batch) > 0 && (keys[r.key] || ncmp+len(r.cmps) > s.o.MaxTxnOps || nops+len(r.ops) > s.o.MaxTxnOps) {
			rest = append(rest, r) // the next group
			continue
		}
		if keys == nil {
			keys = map[string]bool{}
		}
		keys[r.key] = true
		ncmp += len(r.cmps)
		nops += len(r.ops)
		batch = append(batch, r)
	}
	clear(g.queue[len(rest):])
	g.queue = rest
	return batch
}

// sendGroup commits a group and answers its writes.
func (s *Store) sendGroup(batch []*txnReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	if len(batch) == 1 {
		r := batch[0]
		r.resp, r.resent, r.err = s.commit(r.ctx, r.cmps, r.ops, r.els)
		return
	}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for _, r := range batch {
		cmps = append(cmps, r.cmps...)
		ops = append(ops, r.ops...)
	}
	s.group.groups.Add(1)
	s.group.grouped.Add(int64(len(batch)))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), groupTimeout)
	resp, resent, err := s.commit(ctx, cmps, ops, nil)
	cancel()
	if err != nil {
		// Whether the group applied is unknown (commit resent it for as
		// long as it could): each write is sent alone, compared on its own
		// state and marked resent, so that one that finds its own bytes
		// knows the group applied it. No write is answered with an error
		// that hides a write that happened.
		s.group.failed.Add(1)
		var wg sync.WaitGroup
		for _, r := range batch {
			wg.Go(func() {
				r.resp, _, r.err = s.commit(r.ctx, r.cmps, r.ops, r.els)
				r.resent = true
			})
		}
		wg.Wait()
		return
	}
	if resp.Succeeded {
		for _, r := range batch {
			r.resp, r.resent = &clientv3.TxnResponse{Header: resp.Header, Succeeded: true}, resent
		}
		return
	}
	s.group.failed.Add(1)
	// Some write's comparison failed: nothing was applied. Each goes
	// alone, concurrently, for its own answer (after a resend of the
	// group, a write may find its own bytes already there: resent tells
	// the caller to check).
	var wg sync.WaitGroup
	for _, r := range batch {
		wg.Go(func() {
			var again bool
			r.resp, again, r.err = s.commit(r.ctx, r.cmps, r.ops, r.els)
			r.resent = resent || again
		})
	}
	wg.Wait()
}
