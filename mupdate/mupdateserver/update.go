package mupdateserver

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

type stream struct {
	tag   string
	hosts []string // PARTIAL-UPDATE servers; nil: all

	// bytes this stream holds: queued changes and the one being written
	// (counted in the server's total until written).
	bytes atomic.Int64
	// dropped is closed, readable without the lock (for Server.shed).
	dropped atomic.Bool

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []queued
	head   int    // queue[head:] are waiting
	closed bool   // no more changes are taken (dropped or ended)
	reason string // why it was dropped ("" if not)
	seen   int64  // highest revision observed on the feed
	err    error  // set when the feed ended
	notify chan struct{}
	done   chan struct{} // closed when the streamer exits
	// stopWatch ends the feed (called when the streamer exits)
	stopWatch context.CancelFunc
	stopped   bool
}

type queued struct {
	ch   mupdate.Change
	size int64
}

// changeSize is what a queued change costs: its strings and a fixed
// overhead for the structures around them.
func changeSize(ch *mupdate.Change) int64 {
	n := int64(len(ch.Name)) + 128
	if m := ch.Cur; m != nil {
		n += int64(len(m.Name) + len(m.Location) + len(m.ACL))
	}
	return n
}

func hostMatch(hosts []string, m *mupdate.Mailbox) bool {
	return m != nil && slices.Contains(hosts, m.Server())
}

func (c *conn) startUpdate(ctx context.Context, tag string, hosts []string) bool {
	snap, err := c.s.cfg.Backend.Snapshot(ctx)
	if err != nil {
		c.log.Error("mupdate: snapshot failed", "err", err)
		return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindNO, textBackendError) }) == nil
	}
	defer snap.Close()
	st := &stream{tag: tag, hosts: hosts, seen: snap.Revision(), notify: make(chan struct{}, 1), done: make(chan struct{})}
	st.cond = sync.NewCond(&st.mu)
	c.st = st

	// The feed: started before the dump so that no change is missed, and
	// never blocking the backend (it only appends to the bounded queue).
	wctx, wcancel := context.WithCancel(ctx)
	st.stopWatch = wcancel
	c.s.track(c, st)
	go func() {
		defer wcancel()
		err := c.s.cfg.Backend.Watch(wctx, snap.Revision(), func(ch mupdate.Change) error {
			return c.feed(st, ch)
		})
		st.mu.Lock()
		if st.err == nil {
			st.err = err
		}
		st.cond.Broadcast()
		st.mu.Unlock()
		select {
		case st.notify <- struct{}{}:
		default:
		}
	}()

	match := func(m *mupdate.Mailbox) bool { return hosts == nil || slices.Contains(hosts, m.Server()) }
	err = c.dump(ctx, snap, tag, match)
	if err == nil {
		err = c.write(true, func(e *wire.Encoder) { e.Status(tag, wire.KindOK, textStreamingStarts) })
	}
	if err != nil {
		c.endStream(st)
		close(st.done)
		st.stopped = true
		return false
	}
	go c.streamer(ctx, st)
	return true
}

// feed takes one change from the backend's watch: it queues it when it is
// for this client and fits the byte budgets, drops the client when not.
// It never blocks on the client.
func (c *conn) feed(st *stream, ch mupdate.Change) error {
	if ch.Name == "" || (st.hosts != nil && !hostMatch(st.hosts, ch.Prev) && !hostMatch(st.hosts, ch.Cur)) {
		st.mu.Lock()
		if ch.Revision > st.seen {
			st.seen = ch.Revision
		}
		st.cond.Broadcast()
		st.mu.Unlock()
		return nil
	}
	ch.Prev = nil // only Cur and Name are sent: do not hold the old record
	size := changeSize(&ch)
	// One change larger than the cap alone still goes (else a client
	// could never receive it); anything more waits within the cap.
	if b := st.bytes.Load(); b > 0 && b+size > c.s.cfg.StreamMaxBytes {
		c.dropStream(st, dropStreamBytes)
		return errStreamBehind
	}
	if !c.s.reserve(size) {
		c.s.shed(size)
		if !c.s.reserve(size) {
			c.dropStream(st, dropTotalBytes)
			return errStreamBehind
		}
	}
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		c.s.release(size)
		return errStreamBehind
	}
	if len(st.queue)-st.head >= c.s.cfg.StreamQueue {
		st.mu.Unlock()
		c.s.release(size)
		c.dropStream(st, dropChanges)
		return errStreamBehind
	}
	st.queue = append(st.queue, queued{ch: ch, size: size})
	st.bytes.Add(size)
	if ch.Revision > st.seen {
		st.seen = ch.Revision
	}
	st.cond.Broadcast()
	st.mu.Unlock()
	select {
	case st.notify <- struct{}{}:
	default:
	}
	return nil
}

// dropStream cuts off a client that fell too far behind: it frees what the
// stream holds at once, ends the feed, logs and counts it, and limits the
// writes still to come (the rest of the output, then `* BYE`) to
// ByeTimeout, so that a client that does not read is closed then at the
// latest. The streamer writes the BYE and closes the connection.
func (c *conn) dropStream(st *stream, reason string) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	held := st.bytes.Load()
	freed := st.closeLocked()
	st.reason = reason
	if st.err == nil {
		st.err = errStreamBehind
	}
	st.cond.Broadcast()
	st.mu.Unlock()
	c.s.release(freed)
	select {
	case st.notify <- struct{}{}:
	default:
	}
	st.stopWatch()
	switch reason {
	case dropStreamBytes:
		c.s.stats.dropStreamBytes.Add(1)
	case dropTotalBytes:
		c.s.stats.dropTotalBytes.Add(1)
	case dropChanges:
		c.s.stats.dropChanges.Add(1)
	}
	c.log.Warn("mupdate: UPDATE client fell too far behind, dropping it (it resyncs when it reconnects)",
		"reason", reason, "held_bytes", held, "stream_max_bytes", c.s.cfg.StreamMaxBytes,
		"total_bytes", c.s.held.Load(), "stream_total_bytes", c.s.cfg.StreamTotalBytes)
	at := time.Now().Add(c.s.cfg.ByeTimeout).UnixNano()
	c.dropAt.Store(at)
	c.raw.SetWriteDeadline(time.Unix(0, at))
}

// closeLocked (st.mu held) stops taking changes and empties the queue; it
// returns the bytes freed (the change being written, if any, is freed by
// the streamer once written).
func (st *stream) closeLocked() int64 {
	var freed int64
	for _, q := range st.queue[st.head:] {
		freed += q.size
	}
	st.queue, st.head = nil, 0
	st.closed = true
	st.dropped.Store(true)
	st.bytes.Add(-freed)
	return freed
}

// endStream releases whatever the stream still holds when it ends.
func (c *conn) endStream(st *stream) {
	st.stopWatch()
	c.s.untrack(c)
	st.mu.Lock()
	freed := st.closeLocked()
	st.mu.Unlock()
	c.s.release(freed)
}

var errStreamBehind = errors.New("mupdateserver: update client too far behind")

// drainLocked writes the queued changes (c.wmu held), one at a time so that
// what is held stays counted until it is written. It returns the feed's
// error once the feed has ended (the caller says BYE).
func (c *conn) drainLocked(st *stream) error {
	for {
		st.mu.Lock()
		if st.head == len(st.queue) {
			if cap(st.queue) > 1024 {
				st.queue = nil // do not keep a large array for an idle stream
			} else {
				st.queue = st.queue[:0]
			}
			st.head = 0
		}
		if st.head == len(st.queue) || st.closed {
			ferr := st.err
			st.mu.Unlock()
			return ferr
		}
		q := st.queue[st.head]
		st.queue[st.head] = queued{}
		st.head++
		st.mu.Unlock()
		if q.ch.Cur == nil {
			c.enc.Delete(st.tag, q.ch.Name)
		} else {
			c.enc.Mailbox(st.tag, *q.ch.Cur)
		}
		st.bytes.Add(-q.size)
		c.s.release(q.size)
		if c.enc.Err() != nil {
			st.mu.Lock()
			ferr := st.err
			st.mu.Unlock()
			if ferr == nil {
				ferr = c.enc.Err()
			}
			return ferr
		}
	}
}

func (c *conn) streamer(ctx context.Context, st *stream) {
	defer close(st.done)
	defer c.endStream(st)
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.notify:
		}
		c.wmu.Lock()
		ferr := c.drainLocked(st)
		if ferr != nil && ctx.Err() == nil {
			text := textStreamFailed
			st.mu.Lock()
			reason := st.reason
			st.mu.Unlock()
			switch {
			case reason != "":
				text = textStreamBehind // logged and counted by dropStream
			case errors.Is(ferr, mupdate.ErrLagged):
				text = textStreamBehind
				fallthrough
			default:
				c.s.stats.dropBackend.Add(1)
				c.log.Warn("mupdate: update stream ended, disconnecting client", "err", ferr)
			}
			c.enc.Status("*", wire.KindBYE, text)
			c.flushLocked()
			c.wmu.Unlock()
			c.raw.Close()
			return
		}
		err := c.flushLocked()
		c.wmu.Unlock()
		if err != nil {
			c.raw.Close()
			return
		}
	}
}

func (c *conn) stopStream() {
	if c.st != nil && !c.st.stopped {
		<-c.st.done
	}
}
