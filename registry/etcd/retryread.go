package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// During a leader change etcd answers reads "leader changed", "no leader"
// or "request timed out" (gRPC Unavailable or DeadlineExceeded), or a
// linearizable read forwarded to the old leader hangs, for about the
// election time (~1 s). Writes ride this out (commit); reads do the same
// here, so that a frontend resyncing at that moment (LIST, FIND, UPDATE's
// full dump) gets its answer late instead of an error. A read changes
// nothing, so sending it again is always safe.

// readWindow is how long retryRead keeps trying (at most; the caller's
// context may end it earlier): longer than an election, shorter than a
// client's patience.
const readWindow = resendWindow

// readAttemptTimeout bounds one read attempt: a linearizable read that a
// member forwarded to a leader just killed would wait for etcd's own
// request timeout. It is longer than a write's attemptTimeout because a
// healthy read may be large (a count over every key, a page of entries).
const readAttemptTimeout = 5 * time.Second

// maxReadAttemptTimeout bounds how far a slow read's attempt timeout grows.
// etcd 3.4 walks every key of a request's range, whatever its limit: a
// count over 10 million entries took 1–4 s on an idle member and longer
// than readAttemptTimeout on a busy one (docs/scaling.md). When an attempt
// timed out but the cluster answers a one-key read at once, the read is
// slow, not stuck, and the next attempt gets twice the time: 5, 10, 20,
// 40, 80 s.
const maxReadAttemptTimeout = 16 * readAttemptTimeout

// retryRead runs the read fn, again while it fails as a leader change
// makes it fail (inDoubt, or an attempt that took longer than its
// timeout), with a short backoff, until it succeeds, fails otherwise, ctx
// ends or readWindow has passed. An attempt that timed out while the
// cluster answers a one-key read (healthy) is tried again with twice the
// time, up to maxReadAttemptTimeout, and the window is extended to hold it.
func (s *Store) retryRead(ctx context.Context, fn func(ctx context.Context) error) error {
	var first, until time.Time
	timeout, maxTimeout := readAttemptTimeout, maxReadAttemptTimeout
	if s.readTimeout > 0 {
		timeout, maxTimeout = s.readTimeout, s.readTimeoutMax
	}
	for n := 0; ; n++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := fn(actx)
		timedOut := actx.Err() != nil || (err != nil && serverDeadline(err))
		cancel()
		if err == nil || ctx.Err() != nil || !(timedOut || inDoubt(err)) {
			return err
		}
		now := time.Now()
		if until.IsZero() {
			first, until = now, now.Add(readWindow)
		}
		if timedOut && timeout < maxTimeout && s.healthy(ctx) {
			timeout = min(2*timeout, maxTimeout)
			if t := time.Now().Add(timeout); t.After(until) {
				until = t
			}
			s.slowReads.Add(1)
		} else if now.After(until) {
			return fmt.Errorf("%w (read tried %d times over %v)", err, n+1, now.Sub(first).Round(time.Millisecond))
		}
		s.readRetries.Add(1)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(time.Duration(n+1)*25*time.Millisecond, 250*time.Millisecond)):
		}
	}
}

// healthy reports whether the cluster answers a linearizable read of one
// key (the store's prefix itself, never written) within
// readAttemptTimeout: it costs the leader a round of heartbeats, not a
// walk over a range.
func (s *Store) healthy(ctx context.Context) bool {
	hctx, cancel := context.WithTimeout(ctx, readAttemptTimeout)
	defer cancel()
	_, err := s.cli.Get(hctx, s.p)
	return err == nil
}

// getRetry is cli.Get through retryRead.
func (s *Store) getRetry(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	var resp *clientv3.GetResponse
	err := s.retryRead(ctx, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Get(ctx, key, opts...)
		return err
	})
	return resp, err
}

// txnReadRetry is a read-only transaction (gets only) through retryRead.
func (s *Store) txnReadRetry(ctx context.Context, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	var resp *clientv3.TxnResponse
	err := s.retryRead(ctx, func(ctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(ctx).Then(ops...).Commit()
		return err
	})
	return resp, err
}

// ReadRetries is how many read attempts this store has sent again after a
// leader change, a lost member or a slow read (for tests and metrics).
func (s *Store) ReadRetries() int64 { return s.readRetries.Load() }

// SlowReads is how many read attempts timed out on a healthy cluster and
// were given more time (for tests and metrics).
func (s *Store) SlowReads() int64 { return s.slowReads.Load() }
