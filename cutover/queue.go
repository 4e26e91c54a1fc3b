package cutover

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/mupdate"
)

// queued is one change waiting for the old master.
type queued struct {
	Seq      uint64 `json:"seq"`
	Op       string `json:"op"`
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
	ACL      string `json:"acl,omitempty"`
}

func (q queued) request() (mupdate.Request, error) {
	r := mupdate.Request{Name: q.Name, Location: q.Location, ACL: q.ACL}
	switch q.Op {
	case "RESERVE":
		r.Op = mupdate.OpReserve
	case "ACTIVATE":
		r.Op = mupdate.OpActivate
	case "DEACTIVATE":
		r.Op = mupdate.OpDeactivate
	case "DELETE":
		r.Op = mupdate.OpDelete
	default:
		return r, fmt.Errorf("cutover: queue entry %d: unknown op %q", q.Seq, q.Op)
	}
	return r, nil
}

// Queue is the durable, ordered queue of changes for the old master: a
// leveldb whose keys are 8-byte big-endian sequence numbers.
type Queue struct {
	mu   sync.Mutex
	db   *goleveldb.DB
	next uint64
	n    int
}

// OpenQueue opens (creating) the queue in dir.
func OpenQueue(dir string) (*Queue, error) {
	db, err := goleveldb.OpenFile(dir, &opt.Options{})
	if err != nil {
		return nil, fmt.Errorf("cutover: queue %s: %w", dir, err)
	}
	q := &Queue{db: db, next: 1}
	it := db.NewIterator(&util.Range{}, nil)
	for it.Next() {
		if len(it.Key()) != 8 {
			it.Release()
			db.Close()
			return nil, fmt.Errorf("cutover: queue %s: bad key %x", dir, it.Key())
		}
		q.n++
		q.next = binary.BigEndian.Uint64(it.Key()) + 1
	}
	it.Release()
	if err := it.Error(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cutover: queue %s: %w", dir, err)
	}
	return q, nil
}

// Len returns how many changes are queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Push appends a change (synced to disk before it returns).
func (q *Queue) Push(r mupdate.Request) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := queued{Seq: q.next, Op: r.Op.String(), Name: r.Name, Location: r.Location, ACL: r.ACL}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], e.Seq)
	if err := q.db.Put(k[:], b, &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("cutover: queue push: %w", err)
	}
	q.next++
	q.n++
	return nil
}

// Peek returns the oldest change (ok false when empty).
func (q *Queue) Peek() (seq uint64, r mupdate.Request, ok bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.db.NewIterator(&util.Range{}, nil)
	defer it.Release()
	if !it.First() {
		return 0, r, false, it.Error()
	}
	var e queued
	if err := json.Unmarshal(it.Value(), &e); err != nil {
		return 0, r, false, fmt.Errorf("cutover: queue entry %x: %w", it.Key(), err)
	}
	e.Seq = binary.BigEndian.Uint64(it.Key())
	r, err = e.request()
	return e.Seq, r, err == nil, err
}

// Pop removes the change seq (after it reached the master).
func (q *Queue) Pop(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	if err := q.db.Delete(k[:], &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("cutover: queue pop: %w", err)
	}
	q.n--
	return nil
}

// Close closes the queue.
func (q *Queue) Close() error { return q.db.Close() }
