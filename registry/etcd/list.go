package etcd

import (
	"context"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/murderkit/murderkit/registry"
)

func quietLogger() *zap.Logger { return zap.NewNop() }

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}

// keyRange returns the etcd key range [start, end) of a prefix range.
func (s *Store) keyRange(dir string, r registry.PrefixRange) (string, string) {
	base := s.p + dir
	if r.All {
		return base, prefixEnd(base)
	}
	return base + r.Start(), base + r.End()
}

const pageSize = 1000

// pages reads the keys of [start, end) in pages of at most pageSize, all at
// the revision of the first request, calling fn with each page, and
// returns that revision.
//
// etcd counts every key of a request's range, not only the ones a limit
// lets it return (etcd-io/etcd#11057, #16510), so plain paging through n
// keys costs O(n²): a million-entry list spent over two minutes counting.
// Each request therefore asks for a window of the range: from its first
// key up to the end of the keys that share that key's first depth bytes.
// depth adapts: deeper (narrower windows) when a window counted more than
// 64 pages of keys, at once to the prefix its page's keys share; shallower
// when a window held less than a quarter page.
func (s *Store) pages(ctx context.Context, start, end string, fn func(kvs []*mvccpb.KeyValue) error) (int64, error) {
	var rev int64
	pageSize := int64(pageSize)
	if s.pageSize > 0 {
		pageSize = s.pageSize
	}
	minDepth := commonPrefix(start, end)
	depth := minDepth
	for {
		wend := end
		if d := min(depth, len(start)); d > minDepth {
			if w := prefixEnd(start[:d]); w != "\x00" && (end == "\x00" || w < end) {
				wend = w
			}
		}
		o := []clientv3.OpOption{clientv3.WithRange(wend), clientv3.WithLimit(pageSize)}
		if rev != 0 {
			o = append(o, clientv3.WithRev(rev))
		}
		resp, err := s.getRetry(ctx, start, o...)
		if err != nil {
			return rev, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		s.counted.Add(resp.Count)
		if len(resp.Kvs) > 0 {
			if err := fn(resp.Kvs); err != nil {
				return rev, err
			}
		}
		if resp.More && len(resp.Kvs) > 0 {
			if resp.Count > 64*pageSize {
				first, last := string(resp.Kvs[0].Key), string(resp.Kvs[len(resp.Kvs)-1].Key)
				depth = min(max(depth+1, commonPrefix(first, last)), len(last))
			}
			start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
			continue
		}
		if wend == end {
			return rev, nil
		}
		if int64(len(resp.Kvs)) < pageSize/4 && depth > minDepth {
			depth--
		}
		start = wend
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// List implements registry.Store: pages of the range, all read at the
// revision of the first page.
func (s *Store) List(ctx context.Context, prefix string, fn func(registry.Entry) error) (int64, error) {
	if err := s.check(ctx, "list", prefix); err != nil {
		return 0, err
	}
	r, err := registry.Prefix(prefix)
	if err != nil {
		return 0, registry.E("list", prefix, err)
	}
	start, end := s.keyRange(dirEntry, r)
	base := s.p + dirEntry
	var ferr error // fn's own error or a corrupt entry, returned as it is
	rev, err := s.pages(ctx, start, end, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			db := strings.TrimPrefix(string(kv.Key), base)
			if !r.Match(db) {
				continue
			}
			e, err := s.decodeEntry(kv.Value, kv.Key)
			if err != nil {
				ferr = registry.E("list", prefix, err)
				return err
			}
			e.Revision = kv.ModRevision
			if err := fn(e); err != nil {
				ferr = err
				return err
			}
		}
		return nil
	})
	switch {
	case ferr != nil:
		return 0, ferr
	case err != nil:
		return 0, registry.E("list", prefix, wrap(err))
	}
	return rev, nil
}

// Count implements registry.Store.
func (s *Store) Count(ctx context.Context, prefix string) (int, error) {
	if err := s.check(ctx, "count", prefix); err != nil {
		return 0, err
	}
	r, err := registry.Prefix(prefix)
	if err != nil {
		return 0, registry.E("count", prefix, err)
	}
	start, end := s.keyRange(dirEntry, r)
	resp, err := s.getRetry(ctx, start, clientv3.WithRange(end), clientv3.WithCountOnly())
	if err != nil {
		return 0, registry.E("count", prefix, wrap(err))
	}
	return int(resp.Count), nil
}

// Revision implements registry.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.check(ctx, "revision", ""); err != nil {
		return 0, err
	}
	resp, err := s.getRetry(ctx, s.p+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, registry.E("revision", "", wrap(err))
	}
	return resp.Header.Revision, nil
}

// newWatchSync is how long after creating a watch its progress
// notifications are not trusted: etcd syncs a watch that starts behind
// its revision on a 100 ms loop (watchResyncPeriod).
const newWatchSync = 150 * time.Millisecond

// askProgressAgain is how long a watch whose progress notification fell
// short of the wanted revision waits before asking etcd again.
const askProgressAgain = 5 * time.Millisecond

// progressUnanswered is how often a watch asks etcd again while a revision
// a RequestProgress promised is unconfirmed: etcd ignores a progress request
// while one of the stream's watches is behind (syncing), and says nothing.
const progressUnanswered = 50 * time.Millisecond

// decodeEntry decodes an entry stored under key in any stored form (the
// keyed one takes its name from the key); the key is quoted only for an
// error.
func (s *Store) decodeEntry(v, key []byte) (registry.Entry, error) {
	db := strings.TrimPrefix(string(key), s.p+dirEntry)
	e, err := registry.DecodeEntryKeyed(v, db, "")
	if err != nil {
		_, err = registry.DecodeEntryKeyed(v, db, "etcd key "+strconv.Quote(string(key)))
	}
	return e, err
}

// watchBuffer is how many events a watch holds for a slow consumer (small:
// one watch per idle UPDATE client, ~344 bytes per event).
const watchBuffer = 16
