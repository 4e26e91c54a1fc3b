package mupdateserver

import (
	"bufio"
	"container/list"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/wire"
)

// Texts as Cyrus 3.6.1's master words them.
const (
	textDone            = "done"
	textSearchCompleted = "Search completed"
	textListComplete    = "list complete"
	textStreamingStarts = "streaming starts"
	textNoopDone        = "Noop done"
	textByeBye          = "bye-bye"
	textAuthenticated   = "Authenticated"
	textAuthFailed      = "undefined error!"
	textAlreadyAuth     = "already authenticated"
	textNotWhenStream   = "not legal when streaming"
	textCanceled        = "Client canceled authentication" // unquoted, as Cyrus
	textBeginTLS        = "Begin TLS negotiation now"      // unquoted, as Cyrus
	textTLSAfterAuth    = "Can't Starttls after authentication"
	textTLSAgain        = "Already did a successful Starttls"
	textTLSFailed       = "Starttls negotiation failed"
	// Ours (no Cyrus equivalent on a master):
	textReadOnly     = "read-only session" // Cyrus's slave says BAD "read-only session"
	textBackendError = "Server error"
	textTooBig       = "[TOOBIG] input exceeds a limit"
	textStreamBehind = "update stream fell too far behind; resync"
	textStreamFailed = "update stream failed; resync"
	textShutdown     = "server shutting down"
	textLoginTimeout = "login timeout"
	textPerAddr      = "too many connections awaiting login from your address"
	textEvicted      = "server full; closing a connection that has not logged in"
)

type conn struct {
	s   *Server
	raw net.Conn // the accepted connection: deadlines and Close
	nc  net.Conn // what we read and write (raw, or TLS over it)
	log *slog.Logger
	br  *bufio.Reader
	dec *wire.CommandDecoder

	wmu sync.Mutex // guards enc/bw and writes to nc
	bw  *bufio.Writer
	enc *wire.Encoder

	tls    bool
	userid string
	writer bool // may write

	// before login: the remote IP, the login deadline and the place in
	// the server's list of connections awaiting login (nil once logged in
	// or evicted; guarded by Server.umu)
	addr    string
	loginBy time.Time
	uelem   *list.Element

	// streaming (after UPDATE)
	st *stream
	// dropAt (UnixNano), once set, caps every write deadline: the client
	// is being dropped and gets ByeTimeout to take its BYE.
	dropAt atomic.Int64
}

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

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, raw: nc, nc: nc}
	c.log = s.log.With("remote", nc.RemoteAddr().String())
	c.setIO(nc)
	return c
}

func (c *conn) setIO(rw net.Conn) {
	c.br = bufio.NewReaderSize(flushOnRead{c: c, r: rw}, 4<<10)
	c.bw = bufio.NewWriterSize(rw, 16<<10)
	c.enc = wire.NewEncoder(c.bw)
	c.dec = wire.NewCommandDecoder(c.br, c.s.cfg.Limits, c.goAhead)
}

// flushOnRead flushes every buffered reply before the reader asks the
// network for more input, as Cyrus does (prot_setflushonread): a reply is
// never held back because part of the next command is already buffered
// (`N1 NOOP\r\nabc` is answered at once). Pipelined commands that are
// complete in the buffer are still answered in one write.
type flushOnRead struct {
	c *conn
	r io.Reader
}

func (f flushOnRead) Read(p []byte) (int, error) {
	// The reading goroutine and the UPDATE streamer are the only writers;
	// the streamer flushes whatever is buffered before it lets go of the
	// lock, so when the lock is taken there is nothing for us to do (and
	// no reason to wait behind a slow client).
	if f.c.wmu.TryLock() {
		if f.c.enc.Buffered() > 0 {
			f.c.flushLocked()
		}
		f.c.wmu.Unlock()
	}
	return f.r.Read(p)
}

func (c *conn) goAhead() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.enc.GoAhead()
	return c.flushLocked()
}

func (c *conn) flushLocked() error {
	c.renewWriteDeadline()
	return c.enc.Flush()
}

// renewWriteDeadline gives the next writes WriteTimeout, or what is left of
// ByeTimeout once the client is being dropped.
func (c *conn) renewWriteDeadline() {
	if at := c.dropAt.Load(); at != 0 {
		c.raw.SetWriteDeadline(time.Unix(0, at))
		return
	}
	c.raw.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	// dropStream may have run between the load and the set: its deadline
	// must win.
	if at := c.dropAt.Load(); at != 0 {
		c.raw.SetWriteDeadline(time.Unix(0, at))
	}
}

// write runs fn with the encoder under the write lock, flushing when asked.
func (c *conn) write(flush bool, fn func(e *wire.Encoder)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	fn(c.enc)
	if flush {
		return c.flushLocked()
	}
	if c.enc.Buffered() == 0 {
		return c.enc.Err()
	}
	// bufio flushes by itself when full; keep the deadline fresh for that.
	c.renewWriteDeadline()
	return c.enc.Err()
}

func (c *conn) mechanisms() []string {
	var out []string
	for _, m := range c.s.cfg.Mechanisms {
		if m == "PLAIN" && c.s.cfg.RequireTLS && !c.tls {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (c *conn) banner() {
	c.write(true, func(e *wire.Encoder) {
		e.WriteBanner(wire.Banner{
			Mechanisms: c.mechanisms(),
			StartTLS:   c.s.cfg.TLSConfig != nil && !c.tls,
			ServerName: c.s.cfg.ServerName,
			Impl:       c.s.cfg.Impl,
			Version:    c.s.cfg.Version,
			Master:     "(master)",
		})
	})
}

func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("mupdate: panic in connection", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		cancel()
		c.stopStream()
		c.raw.Close()
	}()
	stopOnCancel := context.AfterFunc(ctx, func() { c.raw.SetReadDeadline(time.Unix(1, 0)) })
	defer stopOnCancel()

	c.banner()
	for {
		// Wait for the first byte of a command under the idle timeout,
		// then allow CommandTimeout to read the rest.
		c.readDeadline(ctx, c.s.cfg.IdleTimeout)
		if _, err := c.br.Peek(1); err != nil {
			c.ended(ctx, err)
			return
		}
		c.readDeadline(ctx, c.s.cfg.CommandTimeout)
		cmd, err := c.dec.ReadCommand(wire.ServerState{Authenticated: c.userid != "", StartTLS: c.s.cfg.TLSConfig != nil})
		if err != nil {
			var bad *wire.BadCommand
			var big *wire.TooBigError
			switch {
			case errors.As(err, &bad):
				tag := bad.Tag
				if bad.Untagged {
					tag = "*"
				}
				if c.write(!c.dec.Buffered(), func(e *wire.Encoder) { e.Status(tag, wire.KindBAD, bad.Text) }) != nil {
					return
				}
				continue
			case errors.As(err, &big):
				c.log.Warn("mupdate: input over a limit, closing", "err", err)
				c.write(true, func(e *wire.Encoder) { e.Status("*", wire.KindBYE, textTooBig) })
				return
			default:
				c.ended(ctx, err)
				return
			}
		}
		if !c.dispatch(ctx, cmd) {
			return
		}
		if !c.dec.Buffered() {
			c.wmu.Lock()
			err := c.flushLocked()
			c.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// readDeadline sets the read deadline d from now. The cancel hook of serve
// sets a deadline in the past; when ctx ended before this call, that hook has
// already run and its deadline would be overwritten here, so a shutdown
// between two commands would go unnoticed until the idle timeout. Checking
// ctx after setting the deadline closes that window.
func (c *conn) readDeadline(ctx context.Context, d time.Duration) {
	c.raw.SetReadDeadline(c.deadline(d))
	if ctx.Err() != nil {
		c.raw.SetReadDeadline(time.Unix(1, 0))
	}
}

// deadline is d from now, or the login deadline when that comes first and
// the client has not logged in.
func (c *conn) deadline(d time.Duration) time.Time {
	t := time.Now().Add(d)
	if c.userid == "" && c.loginBy.Before(t) {
		return c.loginBy
	}
	return t
}

// evict closes a connection that has not logged in to make room for a new
// one (it runs beside the connection's own goroutine).
func (c *conn) evict() {
	c.wmu.Lock()
	c.raw.SetWriteDeadline(time.Now().Add(time.Second))
	c.enc.Status("*", wire.KindBYE, textEvicted)
	c.enc.Flush()
	c.wmu.Unlock()
	c.raw.Close()
}

// ended handles a read error: quiet at EOF, a BYE on a timeout.
func (c *conn) ended(ctx context.Context, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	if ctx.Err() != nil {
		c.write(true, func(e *wire.Encoder) { e.Status("*", wire.KindBYE, textShutdown) })
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		text := "idle timeout"
		if c.userid == "" && !time.Now().Before(c.loginBy) {
			text = textLoginTimeout
			c.s.stats.loginTimeouts.Add(1)
			c.s.note(loginTimeout, c.addr, "mupdate: closing a connection that did not log in in time", "login_timeout", c.s.cfg.LoginTimeout)
		}
		c.write(true, func(e *wire.Encoder) { e.Status("*", wire.KindBYE, text) })
		return
	}
	c.log.Debug("mupdate: read error", "err", err)
}

// dispatch runs one command; false ends the session.
func (c *conn) dispatch(ctx context.Context, cmd *wire.Command) bool {
	tag := cmd.Tag
	status := func(kind, text string) bool {
		return c.write(false, func(e *wire.Encoder) { e.Status(tag, kind, text) }) == nil
	}
	switch cmd.Name {
	case wire.CmdLogout:
		c.write(true, func(e *wire.Encoder) { e.Status(tag, wire.KindOK, textByeBye) })
		return false
	case wire.CmdAuthenticate:
		if c.userid != "" {
			return status(wire.KindBAD, textAlreadyAuth)
		}
		return c.authenticate(ctx, tag, cmd.Args)
	case wire.CmdStartTLS:
		return c.startTLS(ctx, tag)
	case wire.CmdNoop:
		if c.st != nil {
			return c.streamingNoop(ctx, tag)
		}
		return status(wire.KindOK, textNoopDone)
	}
	if c.st != nil {
		return status(wire.KindBAD, textNotWhenStream)
	}
	switch cmd.Name {
	case wire.CmdFind:
		m, ok, err := c.s.cfg.Backend.Lookup(ctx, cmd.Args[0])
		if err != nil {
			c.log.Error("mupdate: backend lookup failed", "name", cmd.Args[0], "err", err)
			return status(wire.KindNO, textBackendError)
		}
		return c.write(false, func(e *wire.Encoder) {
			if ok {
				e.Mailbox(tag, m)
			}
			e.Status(tag, wire.KindOK, textSearchCompleted)
		}) == nil
	case wire.CmdList:
		prefix := ""
		if len(cmd.Args) > 0 {
			prefix = cmd.Args[0]
		}
		return c.list(ctx, tag, prefix)
	case wire.CmdUpdate:
		return c.startUpdate(ctx, tag, cmd.Args)
	case wire.CmdActivate, wire.CmdReserve, wire.CmdDeactivate, wire.CmdDelete:
		return c.writeCmd(ctx, tag, cmd)
	}
	return status(wire.KindBAD, wire.TextUnrecognized)
}

func (c *conn) writeCmd(ctx context.Context, tag string, cmd *wire.Command) bool {
	req := mupdate.Request{Name: cmd.Args[0]}
	switch cmd.Name {
	case wire.CmdActivate:
		req.Op, req.Location, req.ACL = mupdate.OpActivate, cmd.Args[1], cmd.Args[2]
	case wire.CmdReserve:
		req.Op, req.Location = mupdate.OpReserve, cmd.Args[1]
	case wire.CmdDeactivate:
		req.Op, req.Location = mupdate.OpDeactivate, cmd.Args[1]
	case wire.CmdDelete:
		req.Op = mupdate.OpDelete
	}
	if !c.writer {
		c.log.Info("mupdate write refused", "op", req.Op.String(), "name", req.Name, "result", "read-only")
		return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindNO, textReadOnly) }) == nil
	}
	start := time.Now()
	// A write that has started finishes even when the server is shutting
	// down (ctx cancelled by SIGTERM): the client gets its answer, then BYE.
	// CommandTimeout still bounds it.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.s.cfg.CommandTimeout)
	err := c.s.cfg.Backend.Write(wctx, req)
	cancel()
	// c.log carries the user since login.
	attrs := []any{"op", req.Op.String(), "name", req.Name, "dur", time.Since(start)}
	if req.Op != mupdate.OpDelete {
		attrs = append(attrs, "location", req.Location)
	}
	var kind, text string
	var merr *mupdate.Error
	switch {
	case err == nil:
		kind, text = wire.KindOK, textDone
		c.log.Info("mupdate write", append(attrs, "result", "OK")...)
	case errors.As(err, &merr):
		kind, text = wire.KindNO, merr.Text
		c.log.Info("mupdate write", append(attrs, "result", "NO", "reason", merr.Text)...)
	default:
		kind, text = wire.KindNO, textBackendError
		c.log.Error("mupdate write", append(attrs, "result", "NO", "err", err)...)
	}
	return c.write(false, func(e *wire.Encoder) { e.Status(tag, kind, text) }) == nil
}

func (c *conn) list(ctx context.Context, tag, prefix string) bool {
	snap, err := c.s.cfg.Backend.Snapshot(ctx)
	if err != nil {
		c.log.Error("mupdate: snapshot failed", "err", err)
		return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindNO, textBackendError) }) == nil
	}
	defer snap.Close()
	err = c.dump(ctx, snap, tag, func(m *mupdate.Mailbox) bool { return strings.HasPrefix(m.Location, prefix) })
	if err != nil {
		return false
	}
	return c.write(false, func(e *wire.Encoder) { e.Status(tag, wire.KindOK, textListComplete) }) == nil
}

// dump writes the snapshot's matching mailboxes (bufio flushes as its
// buffer fills; the write deadline is renewed every 256 entries).
func (c *conn) dump(ctx context.Context, snap mupdate.Snapshot, tag string, match func(*mupdate.Mailbox) bool) error {
	c.wmu.Lock()
	n := 0
	var werr error
	err := snap.Range(ctx, func(m mupdate.Mailbox) error {
		if !match(&m) {
			return nil
		}
		c.enc.Mailbox(tag, m)
		n++
		if n&255 == 0 {
			c.renewWriteDeadline()
			if werr = c.enc.Err(); werr != nil {
				return werr
			}
		}
		return nil
	})
	c.wmu.Unlock()
	if werr != nil {
		return werr
	}
	if err != nil {
		c.log.Error("mupdate: dump failed", "err", err)
		c.write(true, func(e *wire.Encoder) { e.Status("*", wire.KindBYE, textBackendError) })
		return err
	}
	return c.enc.Err()
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

// streamingNoop flushes every change committed before the NOOP arrived,
// then answers OK (what a frontend's kick relies on).
func (c *conn) streamingNoop(ctx context.Context, tag string) bool {
	st := c.st
	target, err := c.s.cfg.Backend.Revision(ctx)
	if err == nil {
		deadline := time.Now().Add(c.s.cfg.NoopWait)
		timer := time.AfterFunc(c.s.cfg.NoopWait, func() {
			st.mu.Lock()
			st.cond.Broadcast()
			st.mu.Unlock()
		})
		st.mu.Lock()
		for st.seen < target && st.err == nil && time.Now().Before(deadline) && ctx.Err() == nil {
			st.cond.Wait()
		}
		st.mu.Unlock()
		timer.Stop()
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.drainLocked(st) != nil {
		// The feed has ended (the client was dropped, or the backend
		// ended it): no OK, whose promise could not be kept; the
		// streamer sends the BYE and closes.
		return c.flushLocked() == nil
	}
	c.enc.Status(tag, wire.KindOK, textNoopDone)
	return c.flushLocked() == nil
}

func (c *conn) stopStream() {
	if c.st != nil && !c.st.stopped {
		<-c.st.done
	}
}

func (c *conn) startTLS(ctx context.Context, tag string) bool {
	raw := func(kind, text string) bool {
		return c.write(true, func(e *wire.Encoder) { e.StatusRaw(tag, kind, text) }) == nil
	}
	switch {
	case c.userid != "":
		return raw(wire.KindBAD, textTLSAfterAuth)
	case c.tls:
		return raw(wire.KindBAD, textTLSAgain)
	}
	if !raw(wire.KindOK, textBeginTLS) {
		return false
	}
	tc := tls.Server(c.raw, c.s.cfg.TLSConfig)
	hctx, cancel := context.WithDeadline(ctx, c.deadline(3*time.Minute))
	defer cancel()
	c.raw.SetDeadline(time.Time{})
	if err := tc.HandshakeContext(hctx); err != nil {
		c.log.Info("mupdate: TLS handshake failed", "err", err)
		return false
	}
	// Input pipelined after STARTTLS is discarded (the old reader goes).
	// Under the write lock: evict may write to the connection meanwhile.
	c.wmu.Lock()
	c.nc = tc
	c.tls = true
	c.setIO(tc)
	c.wmu.Unlock()
	c.banner()
	return true
}
