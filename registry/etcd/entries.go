package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/murderkit/murderkit/registry"
)

// read reads the entry and the tombstone of db in one (linearizable)
// transaction.
func (s *Store) read(ctx context.Context, db string) (state, error) {
	resp, err := s.txnReadRetry(ctx, clientv3.OpGet(s.ekey(db)), clientv3.OpGet(s.tkey(db)))
	if err != nil {
		return state{}, wrap(err)
	}
	return stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange()), nil
}

// Get implements registry.Store (a linearizable read).
func (s *Store) Get(ctx context.Context, name string) (registry.Entry, error) {
	return s.get(ctx, "get", name)
}

// GetStale implements registry.StaleReader: the entry as this store last
// wrote it (its state cache, no round trip), else a serializable read (the
// member the client talks to answers from its own state, without a quorum
// round). Either may lag writes the cluster already committed.
func (s *Store) GetStale(ctx context.Context, name string) (registry.Entry, error) {
	if err := registry.ValidateName(name); err == nil {
		db := registry.DBName(name)
		if c, ok := s.cache.get(db); ok && c.exists() {
			if e, err := c.entry(db, s.ekey(db)); err == nil && e.Name == name {
				return e, nil
			}
		}
	}
	return s.get(ctx, "get", name, clientv3.WithSerializable())
}

func (s *Store) get(ctx context.Context, op, name string, opts ...clientv3.OpOption) (registry.Entry, error) {
	if err := s.check(ctx, op, name); err != nil {
		return registry.Entry{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Entry{}, registry.E(op, name, err)
	}
	resp, err := s.getRetry(ctx, s.ekey(registry.DBName(name)), opts...)
	if err != nil {
		return registry.Entry{}, registry.E(op, name, wrap(err))
	}
	if len(resp.Kvs) == 0 {
		return registry.Entry{}, registry.E(op, name, registry.ErrNotFound)
	}
	e, err := s.decodeEntry(resp.Kvs[0].Value, resp.Kvs[0].Key)
	if err != nil {
		return registry.Entry{}, registry.E(op, name, err)
	}
	e.Revision = resp.Kvs[0].ModRevision
	return e, nil
}

// GetTombstone implements registry.Store.
func (s *Store) GetTombstone(ctx context.Context, name string) (registry.Tombstone, error) {
	if err := s.check(ctx, "get-tombstone", name); err != nil {
		return registry.Tombstone{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Tombstone{}, registry.E("get-tombstone", name, err)
	}
	resp, err := s.getRetry(ctx, s.tkey(registry.DBName(name)))
	if err != nil {
		return registry.Tombstone{}, registry.E("get-tombstone", name, wrap(err))
	}
	if len(resp.Kvs) == 0 {
		return registry.Tombstone{}, registry.E("get-tombstone", name, registry.ErrNotFound)
	}
	t, err := registry.DecodeTombstone(resp.Kvs[0].Value, "etcd key "+strconv.Quote(string(resp.Kvs[0].Key)))
	if err != nil {
		return registry.Tombstone{}, registry.E("get-tombstone", name, err)
	}
	t.Revision = resp.Kvs[0].ModRevision
	return t, nil
}

// encode returns the stored form of e, without the revision (the key's
// ModRevision): the keyed compact form (registry.AppendEntryKeyed: the name
// is the key's), or the form Options.Entries asks for. Every form is read
// back.
func (s *Store) encode(e *registry.Entry) []byte {
	switch {
	case s.o.JSONEntries:
		return registry.EncodeEntry(e, false)
	case s.o.CompactEntries:
		return registry.AppendEntryBinary(make([]byte, 0, 192), e, false)
	}
	return registry.AppendEntryKeyed(make([]byte, 0, 128), e)
}

// sameStored reports whether the stored bytes old of dbname db hold the
// content val (this store's form of an entry) holds: equal bytes, or the
// same entry in another form (first byte: '{' JSON, 1 or 2 the compact
// form, 3 the keyed one; each form gives equal bytes for equal content).
func (s *Store) sameStored(db string, old, val []byte) bool {
	if bytes.Equal(old, val) {
		return true
	}
	if len(old) == 0 || len(val) == 0 || form(old[0]) == form(val[0]) {
		return false // same form, different bytes
	}
	e, err := registry.DecodeEntryKeyed(old, db, "")
	if err != nil {
		return false
	}
	return bytes.Equal(s.encode(&e), val)
}

// form names a stored entry's form by its first byte (binary forms 1 and 2
// are one form: the content picks the byte).
func form(b byte) byte {
	if b == 2 {
		return 1
	}
	return b
}

// putOps returns the operations that store e (stored form val) over old
// (nil when absent) and remove a tombstone when delTomb.
func (s *Store) putOps(e *registry.Entry, val []byte, old *registry.Entry, delTomb bool) []clientv3.Op {
	db := registry.DBName(e.Name)
	var oldKeys []string
	if old != nil {
		oldKeys = registry.StoredIndexKeys(old)
	}
	del, add := registry.DiffKeys(oldKeys, indexRows(e))
	ops := make([]clientv3.Op, 0, 2+len(del)+len(add))
	ops = append(ops, clientv3.OpPut(s.ekey(db), string(val)))
	for _, k := range del {
		ops = append(ops, clientv3.OpDelete(s.xkey(k)))
	}
	for _, k := range add {
		ops = append(ops, clientv3.OpPut(s.xkey(k), ""))
	}
	if delTomb {
		ops = append(ops, clientv3.OpDelete(s.tkey(db)))
	}
	return ops
}

// indexRows returns the index rows this store writes for e, sorted:
// registry.IndexKeys without the "listable" row and without the rows of a
// user on the user's own hierarchy (registry.OwnRow). Visible reads the own
// hierarchy's entries instead, so neither kind is needed; leaving them out
// takes a typical mailbox (owner rights plus a group grant) from four etcd
// keys to two, and every key costs each member ~180 bytes of memory in
// etcd's key index (docs/scaling.md, "Where a member's memory goes").
// Rows of both kinds that a cluster written before still holds are never
// needed and are removed with their entry's other rows
// (registry.StoredIndexKeys).
func indexRows(e *registry.Entry) []string {
	keys := registry.IndexKeys(e)
	out := keys[:0]
	for _, k := range keys {
		if !strings.HasPrefix(k, registry.IndexListable) && !registry.OwnRow(k) {
			out = append(out, k)
		}
	}
	return out
}

const maxRetries = 64

// attemptTimeout bounds one attempt of a write transaction: a proposal a
// follower forwarded to a leader that was just killed is lost and would
// wait for etcd's own request timeout (~7 s).
const attemptTimeout = 2 * time.Second

// resendWindow bounds how long commit sends a transaction again whose
// outcome is unknown.
const resendWindow = 15 * time.Second

// commit runs a write transaction. An attempt whose outcome is unknown — it
// took longer than attemptTimeout, or etcd answered "request timed out",
// "leader changed", a lost connection or another Unavailable — is sent
// again, for up to resendWindow: every attempt compares on the same state,
// so at most one applies, and resent tells the caller that a failed
// comparison may be its own earlier attempt (write and Delete then look
// for their own bytes). An error is returned only when etcd refused the
// transaction outright, the caller's context ended, or the window passed
// (then whether it applied is unknown, and the error says so).
func (s *Store) commit(ctx context.Context, cmps []clientv3.Cmp, ops, els []clientv3.Op) (*clientv3.TxnResponse, bool, error) {
	resent := false
	var until time.Time
	for n := 0; ; n++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		resp, err := s.cli.Txn(actx).If(cmps...).Then(ops...).Else(els...).Commit()
		timedOut := actx.Err() != nil
		cancel()
		if err == nil || ctx.Err() != nil {
			return resp, resent, err
		}
		if !timedOut && !inDoubt(err) {
			return resp, resent, err
		}
		if until.IsZero() {
			until = time.Now().Add(resendWindow)
		} else if time.Now().After(until) {
			return resp, resent, fmt.Errorf("%w (sent %d times over %v; whether it was applied is unknown)", err, n+1, resendWindow)
		}
		resent = true
		if n > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Duration(n)*20*time.Millisecond, 200*time.Millisecond)):
			}
		}
	}
}

// inDoubt reports whether a transaction that got err may have been
// applied all the same: etcd's Unavailable and DeadlineExceeded answers
// ("request timed out", "leader changed", "no leader", a lost connection).
// Refusals (too many operations, a request too large, permissions) are
// not: etcd checked them before proposing.
func inDoubt(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded || serverDeadline(err)
	}
	return false
}

// serverDeadline reports whether err is etcd's server giving up on the
// deadline the client sent with the request: etcd returns the server
// context's error as it is, which gRPC carries as code Unknown with the
// text "context deadline exceeded", and it may reach the client just
// before the client's own context expires.
func serverDeadline(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unknown && st.Message() == context.DeadlineExceeded.Error()
}

// decide applies the rules of mode to the state c: nil, or the caller's
// error.
func decide(mode int, e *registry.Entry, c *state, tk string) error {
	switch mode {
	case modeCreate:
		if c.exists() {
			return registry.ErrExists
		}
	case modeUpdate:
		if !c.exists() {
			return registry.ErrNotFound
		}
		if c.emod != e.Revision {
			return fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, e.Revision, c.emod)
		}
	}
	if !c.exists() && c.hasTomb() {
		t, err := c.tomb(tk)
		if err != nil {
			return err
		}
		if registry.TombstoneBlocks(&t, e) {
			return fmt.Errorf("%w: state read at revision %d, deleted at %d", registry.ErrTombstoned, e.Revision, t.Revision)
		}
	}
	return nil
}

// write is Create, Update and Put: one transaction compared on the state
// the write starts from (a cached read of this name, the caller's revision,
// or "absent"), whose Else branch returns the current state when that was
// wrong. A write whose start was right (the MUPDATE case: Get, then Update
// with the revision read; or a Create of a new name) is one round trip.
func (s *Store) write(ctx context.Context, op string, e registry.Entry, mode int) (registry.Entry, error) {
	if err := s.check(ctx, op, e.Name); err != nil {
		return registry.Entry{}, err
	}
	if err := registry.Prepare(&e); err != nil {
		return registry.Entry{}, registry.E(op, e.Name, err)
	}
	db := registry.DBName(e.Name)
	ek, tk := s.ekey(db), s.tkey(db)
	c, _ := s.cache.get(db)
	if mode == modeUpdate && (!c.exists() || c.emod != e.Revision) {
		// The caller read a revision this client has not seen: the old
		// entry (for its index rows) must be read.
		var err error
		if c, err = s.read(ctx, db); err != nil {
			return registry.Entry{}, registry.E(op, e.Name, err)
		}
	}
	val := s.encode(&e)
	for range maxRetries {
		if err := decide(mode, &e, &c, tk); err != nil {
			if c.known {
				return registry.Entry{}, registry.E(op, e.Name, err)
			}
			// Decide only on what the cluster says, never on a guess.
			if c, err = s.read(ctx, db); err != nil {
				return registry.Entry{}, registry.E(op, e.Name, err)
			}
			continue
		}
		var oldp *registry.Entry
		if c.exists() {
			old, err := c.entry(db, ek)
			if err != nil {
				return registry.Entry{}, registry.E(op, e.Name, err)
			}
			oldp = &old
		}
		ops := s.putOps(&e, val, oldp, c.hasTomb())
		if len(ops) > s.o.MaxTxnOps {
			return registry.Entry{}, registry.E(op, e.Name, fmt.Errorf("entry needs %d operations in one transaction, more than the cluster's --max-txn-ops %d (raise it and the URL's maxtxnops): %w", len(ops), s.o.MaxTxnOps, registry.ErrInvalid))
		}
		resp, resent, err := s.commit(ctx, c.cmps(ek, tk), ops, []clientv3.Op{clientv3.OpGet(ek), clientv3.OpGet(tk)})
		if err != nil {
			return registry.Entry{}, registry.E(op, e.Name, wrap(err))
		}
		if !resp.Succeeded && resent {
			// An earlier attempt may have applied: it did when the name
			// now holds exactly this write's bytes at a newer revision.
			now := stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange())
			if now.emod > c.emod && bytes.Equal(now.eval, val) {
				e.Revision = now.emod
				s.cache.put(db, state{emod: e.Revision, eval: val})
				return e, nil
			}
			return registry.Entry{}, registry.E(op, e.Name, registry.Unavailable(errors.New("a write timed out and its resend found the name changed: the first may have been applied")))
		}
		if resp.Succeeded {
			e.Revision = resp.Header.Revision
			s.cache.put(db, state{emod: e.Revision, eval: val})
			return e, nil
		}
		// The name was not as assumed (a guess, or another writer got in
		// between): the Else branch read it; decide again.
		c = stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange())
	}
	return registry.Entry{}, registry.E(op, e.Name, fmt.Errorf("%w: still changing after %d attempts", registry.ErrConflict, maxRetries))
}

// Create implements registry.Store.
func (s *Store) Create(ctx context.Context, e registry.Entry) (registry.Entry, error) {
	return s.write(ctx, "create", e, modeCreate)
}

// Update implements registry.Store.
func (s *Store) Update(ctx context.Context, e registry.Entry) (registry.Entry, error) {
	return s.write(ctx, "update", e, modeUpdate)
}

// Put implements registry.Store.
func (s *Store) Put(ctx context.Context, e registry.Entry) (registry.Entry, error) {
	return s.write(ctx, "put", e, modePut)
}

// Delete implements registry.Store, like write: one transaction compared on
// the cached state when there is one that fits rev.
func (s *Store) Delete(ctx context.Context, name string, rev int64) (registry.Tombstone, error) {
	if err := s.check(ctx, "delete", name); err != nil {
		return registry.Tombstone{}, err
	}
	if err := registry.ValidateName(name); err != nil {
		return registry.Tombstone{}, registry.E("delete", name, err)
	}
	db := registry.DBName(name)
	ek, tk := s.ekey(db), s.tkey(db)
	c, _ := s.cache.get(db)
	for range maxRetries {
		var err error
		switch {
		case !c.exists():
			err = registry.ErrNotFound
		case rev != 0 && rev != c.emod:
			err = fmt.Errorf("%w: read at %d, now at %d", registry.ErrConflict, rev, c.emod)
		}
		if err != nil {
			if c.known {
				return registry.Tombstone{}, registry.E("delete", name, err)
			}
			if c, err = s.read(ctx, db); err != nil {
				return registry.Tombstone{}, registry.E("delete", name, err)
			}
			continue
		}
		old, err := c.entry(db, ek)
		if err != nil {
			return registry.Tombstone{}, registry.E("delete", name, err)
		}
		t := registry.Tombstone{Name: name, UniqueID: old.UniqueID, UIDValidity: old.UIDValidity, Time: time.Now().UTC()}
		tval := registry.EncodeTombstone(&t, false)
		keys := registry.StoredIndexKeys(&old)
		ops := []clientv3.Op{clientv3.OpDelete(ek), clientv3.OpPut(tk, string(tval))}
		for _, k := range keys {
			ops = append(ops, clientv3.OpDelete(s.xkey(k)))
		}
		if len(ops) > s.o.MaxTxnOps {
			return registry.Tombstone{}, registry.E("delete", name, fmt.Errorf("entry needs %d operations in one transaction, more than the cluster's --max-txn-ops %d (raise it and the URL's maxtxnops): %w", len(ops), s.o.MaxTxnOps, registry.ErrInvalid))
		}
		resp, resent, err := s.commit(ctx, []clientv3.Cmp{
			clientv3.Compare(clientv3.ModRevision(ek), "=", c.emod),
			clientv3.Compare(clientv3.Value(ek), "=", string(c.eval)),
		}, ops, []clientv3.Op{clientv3.OpGet(ek), clientv3.OpGet(tk)})
		if err != nil {
			return registry.Tombstone{}, registry.E("delete", name, wrap(err))
		}
		if !resp.Succeeded && resent {
			// The tombstone holds this delete's time in nanoseconds: if it
			// is there, the earlier attempt applied.
			now := stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange())
			if !now.exists() && bytes.Equal(now.tval, tval) {
				t.Revision = now.tmod
				s.cache.put(db, state{tmod: t.Revision, tval: tval})
				return t, nil
			}
			return registry.Tombstone{}, registry.E("delete", name, registry.Unavailable(errors.New("a delete timed out and its resend found the name changed: the first may have been applied")))
		}
		if resp.Succeeded {
			t.Revision = resp.Header.Revision
			s.cache.put(db, state{tmod: t.Revision, tval: tval})
			return t, nil
		}
		c = stateOf(resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange())
	}
	return registry.Tombstone{}, registry.E("delete", name, fmt.Errorf("%w: still changing after %d attempts", registry.ErrConflict, maxRetries))
}
