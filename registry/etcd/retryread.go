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

// retryRead runs the read fn, again while it fails as a leader change
// makes it fail (inDoubt, or an attempt that took longer than
// readAttemptTimeout), with a short backoff, until it succeeds, fails
// otherwise, ctx ends or readWindow has passed.
func (s *Store) retryRead(ctx context.Context, fn func(ctx context.Context) error) error {
	var until time.Time
	for n := 0; ; n++ {
		actx, cancel := context.WithTimeout(ctx, readAttemptTimeout)
		err := fn(actx)
		timedOut := actx.Err() != nil
		cancel()
		if err == nil || ctx.Err() != nil || !(timedOut || inDoubt(err)) {
			return err
		}
		if until.IsZero() {
			until = time.Now().Add(readWindow)
		} else if time.Now().After(until) {
			return fmt.Errorf("%w (read tried %d times over %v)", err, n+1, readWindow)
		}
		s.readRetries.Add(1)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(time.Duration(n+1)*25*time.Millisecond, 250*time.Millisecond)):
		}
	}
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
// leader change or a lost member (for tests and metrics).
func (s *Store) ReadRetries() int64 { return s.readRetries.Load() }
