package mupdateserver

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
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
		return c.logout(tag)
	case wire.CmdAuthenticate:
		if c.userid != "" {
			return status(wire.KindBAD, textAlreadyAuth)
		}
		return c.authenticate(ctx, tag, cmd.Args)
	case wire.CmdStartTLS:
		return c.startTLS(ctx, tag)
	case wire.CmdNoop:
		return c.noop(ctx, tag)
	}
	if c.st != nil {
		return status(wire.KindBAD, textNotWhenStream)
	}
	switch cmd.Name {
	case wire.CmdFind:
		return c.find(ctx, tag, cmd.Args[0])
	case wire.CmdList:
		prefix := ""
		if len(cmd.Args) > 0 {
			prefix = cmd.Args[0]
		}
		return c.list(ctx, tag, prefix)
	case wire.CmdUpdate:
		return c.startUpdate(ctx, tag, cmd.Args)
	case wire.CmdReserve:
		return c.reserve(ctx, tag, cmd.Args)
	case wire.CmdActivate:
		return c.activate(ctx, tag, cmd.Args)
	case wire.CmdDeactivate:
		return c.deactivate(ctx, tag, cmd.Args)
	case wire.CmdDelete:
		return c.deleteCmd(ctx, tag, cmd.Args)
	}
	return status(wire.KindBAD, wire.TextUnrecognized)
}

// writeCmd runs a write (RESERVE, ACTIVATE, DEACTIVATE, DELETE) on the
// backend and answers it.
func (c *conn) writeCmd(ctx context.Context, tag string, req mupdate.Request) bool {
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
