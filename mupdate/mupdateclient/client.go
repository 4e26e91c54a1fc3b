// Package mupdateclient is a MUPDATE client (RFC 3656) for Cyrus IMAP 3.6
// masters and for our own server: what murder-bridge's follow mode and
// write-through use.
//
// Source of truth: Cyrus 3.6.1's imap/mupdate-client.c (how a Cyrus client
// talks: every argument a {n+} literal, AUTHENTICATE "MECH" {n+}, bare
// base64 SASL lines) and the transcripts in ../testdata/transcripts.
//
// A Client is one connection. Commands are sequential (a mutex serialises
// them); while Update streams, only Noop (from another goroutine) and
// Close may be used.
//
//	c, _ := mupdateclient.Dial(ctx, "127.0.0.1:3905", nil)
//	defer c.Close()
//	_ = c.Authenticate(ctx, "murder", "secret", "")
//	m, ok, _ := c.Find(ctx, "user.alice")
//	_ = c.Update(ctx, nil, func(ev mupdateclient.Event) error { ...; return nil })
package mupdateclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdg-go/scram"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/wire"
)

// Options configure a Client; nil means defaults.
type Options struct {
	// TLSConfig is used by StartTLS (and by Dial when StartTLS is set).
	TLSConfig *tls.Config
	// StartTLS makes Dial upgrade the connection before returning.
	StartTLS bool
	Limits   wire.Limits
	// DebugWriter receives a raw copy of everything read and written. It
	// contains credentials: never point it at a shared log.
	DebugWriter io.Writer
}

// Banner is what the server announced.
type Banner struct {
	Mechanisms    []string // from `* AUTH`, quotes removed
	StartTLS      bool
	PartialUpdate bool
	// OK is the text of the final `* OK` line, e.g.
	// `MUPDATE "mupdate.example" "Cyrus IMAP" "3.6.1-..." "(master)"`.
	OK string
}

// StatusError is a NO or BAD answer (or a BYE).
type StatusError struct {
	Kind string // NO, BAD or BYE
	Text string
}

func (e *StatusError) Error() string { return "mupdateclient: " + e.Kind + " " + strconv.Quote(e.Text) }

// Unwrap maps Cyrus's NO texts to the mupdate sentinels
// (errors.Is(err, mupdate.ErrExists) etc.).
func (e *StatusError) Unwrap() error {
	if e.Kind != wire.KindNO {
		return nil
	}
	switch e.Text {
	case mupdate.TextExists:
		return mupdate.ErrExists
	case mupdate.TextNotActive:
		return mupdate.ErrNotActive
	case mupdate.TextNotExist:
		return mupdate.ErrNotExist
	}
	return nil
}

// ErrStreaming is returned by commands issued while Update streams.
var ErrStreaming = errors.New("mupdateclient: connection is streaming an UPDATE")

// Client is one MUPDATE connection.
type Client struct {
	opts   Options
	nc     net.Conn
	bw     *bufio.Writer
	enc    *wire.Encoder
	dec    *wire.ResponseDecoder
	banner Banner

	mu        sync.Mutex // one command at a time
	wmu       sync.Mutex // guards enc
	seq       int
	streaming bool
	noops     map[string]chan error // streaming NOOPs waiting for their OK
	nmu       sync.Mutex
	closed    atomic.Bool
}

// Dial connects to addr ("host:port") and reads the banner.
func Dial(ctx context.Context, addr string, opts *Options) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mupdateclient: %w", err)
	}
	c, err := New(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if c.opts.StartTLS {
		cfg := c.opts.TLSConfig
		if cfg == nil {
			host, _, _ := net.SplitHostPort(addr)
			cfg = &tls.Config{ServerName: host}
		}
		if err := c.StartTLS(ctx, cfg); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

type debugConn struct {
	net.Conn
	w io.Writer
}

func (d debugConn) Read(p []byte) (int, error) {
	n, err := d.Conn.Read(p)
	if n > 0 {
		d.w.Write(p[:n])
	}
	return n, err
}

func (d debugConn) Write(p []byte) (int, error) {
	d.w.Write(p)
	return d.Conn.Write(p)
}

// New runs a client over an established connection and reads the banner.
func New(ctx context.Context, nc net.Conn, opts *Options) (*Client, error) {
	c := &Client{nc: nc, noops: map[string]chan error{}}
	if opts != nil {
		c.opts = *opts
	}
	c.setIO(nc)
	defer c.deadline(ctx)()
	if err := c.readBanner(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) setIO(rw net.Conn) {
	var r io.Reader = rw
	var w io.Writer = rw
	if c.opts.DebugWriter != nil {
		d := debugConn{rw, c.opts.DebugWriter}
		r, w = d, d
	}
	c.bw = bufio.NewWriter(w)
	c.enc = wire.NewEncoder(c.bw)
	c.dec = wire.NewResponseDecoder(bufio.NewReaderSize(r, 64<<10), c.opts.Limits)
}

// deadline applies ctx to the connection until the returned func is called.
func (c *Client) deadline(ctx context.Context) func() {
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(d)
	} else {
		c.nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

func (c *Client) readBanner() error {
	c.banner = Banner{}
	for {
		r, err := c.dec.ReadResponse()
		if err != nil {
			return fmt.Errorf("mupdateclient: reading banner: %w", err)
		}
		if r.Tag != "*" {
			return &wire.ProtocolError{Line: r.Tag + " " + r.Kind, Msg: "tagged line in banner"}
		}
		switch r.Kind {
		case "AUTH":
			for _, f := range strings.Fields(r.Text) {
				c.banner.Mechanisms = append(c.banner.Mechanisms, strings.Trim(f, `"`))
			}
		case "STARTTLS":
			c.banner.StartTLS = true
		case "PARTIAL-UPDATE":
			c.banner.PartialUpdate = true
		case wire.KindOK:
			c.banner.OK = r.Text
			return nil
		case wire.KindBYE:
			return &StatusError{Kind: r.Kind, Text: strings.Trim(r.Text, `"`)}
		}
	}
}

// Banner returns the last banner read (after STARTTLS, the new one).
func (c *Client) Banner() Banner { return c.banner }

func (c *Client) nextTag(prefix string) string {
	c.seq++
	return prefix + strconv.Itoa(c.seq)
}

func (c *Client) send(fn func(e *wire.Encoder)) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	fn(c.enc)
	return c.enc.Flush()
}

// begin takes the command lock and applies ctx; the caller defers the
// returned func.
func (c *Client) begin(ctx context.Context) (func(), error) {
	c.mu.Lock()
	if c.streaming {
		c.mu.Unlock()
		return nil, ErrStreaming
	}
	if c.closed.Load() {
		c.mu.Unlock()
		return nil, net.ErrClosed
	}
	stop := c.deadline(ctx)
	return func() { stop(); c.mu.Unlock() }, nil
}

// result reads responses until the tagged status of tag, passing data
// responses to fn (which may be nil).
func (c *Client) result(tag string, fn func(*wire.Response) error) error {
	for {
		r, err := c.dec.ReadResponse()
		if err != nil {
			return fmt.Errorf("mupdateclient: %w", err)
		}
		switch r.Kind {
		case wire.KindOK, wire.KindNO, wire.KindBAD, wire.KindBYE:
			if r.Kind == wire.KindBYE {
				return &StatusError{Kind: r.Kind, Text: r.Text}
			}
			if r.Tag != tag {
				if r.Tag == "*" {
					continue
				}
				return &wire.ProtocolError{Line: r.Tag + " " + r.Kind, Msg: "status for another tag (want " + tag + ")"}
			}
			if r.Kind != wire.KindOK {
				return &StatusError{Kind: r.Kind, Text: r.Text}
			}
			return nil
		case wire.KindMailbox, wire.KindReserve, wire.KindDelete:
			if fn != nil {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
	}
}

func toMailbox(r *wire.Response) mupdate.Mailbox {
	m := mupdate.Mailbox{Name: r.Args[0], Location: r.Args[1]}
	if r.Kind == wire.KindMailbox {
		m.State, m.ACL = mupdate.Active, r.Args[2]
	} else {
		m.State = mupdate.Reserved
	}
	return m
}

// StartTLS upgrades the connection and reads the new banner.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config) error {
	done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	tag := "S01"
	if err := c.send(func(e *wire.Encoder) { e.Line(tag + " STARTTLS") }); err != nil {
		return err
	}
	if err := c.result(tag, nil); err != nil {
		return err
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("mupdateclient: TLS: %w", err)
	}
	c.nc = tc
	c.setIO(tc)
	return c.readBanner()
}

// preference is the order in which Authenticate picks a mechanism when
// none is forced (as a Cyrus client would: strongest first).
var preference = []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}

// Authenticate logs in as user. mech "" picks the strongest offered
// mechanism we support (SCRAM-SHA-512, -256, -1, then PLAIN). It sends
// `A01 AUTHENTICATE "MECH" {n+}` with the initial response, as Cyrus does.
func (c *Client) Authenticate(ctx context.Context, user, password, mech string) error {
	done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if mech == "" {
		for _, m := range preference {
			if slices.Contains(c.banner.Mechanisms, m) {
				mech = m
				break
			}
		}
		if mech == "" {
			return fmt.Errorf("mupdateclient: no supported SASL mechanism in %q", c.banner.Mechanisms)
		}
	}
	mech = strings.ToUpper(mech)
	tag := "A01"
	var step func(challenge []byte) ([]byte, error)
	var first []byte
	switch mech {
	case "PLAIN":
		first = []byte("\x00" + user + "\x00" + password)
	case "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512":
		hf := map[string]scram.HashGeneratorFcn{"SCRAM-SHA-1": scram.SHA1, "SCRAM-SHA-256": scram.SHA256, "SCRAM-SHA-512": scram.SHA512}[mech]
		sc, err := hf.NewClient(user, password, "")
		if err != nil {
			return fmt.Errorf("mupdateclient: %w", err)
		}
		conv := sc.NewConversation()
		s, err := conv.Step("")
		if err != nil {
			return fmt.Errorf("mupdateclient: %w", err)
		}
		first = []byte(s)
		step = func(ch []byte) ([]byte, error) {
			if conv.Done() {
				if !conv.Valid() {
					return nil, errors.New("mupdateclient: server signature did not verify")
				}
				return nil, nil
			}
			r, err := conv.Step(string(ch))
			if err != nil {
				return nil, fmt.Errorf("mupdateclient: SCRAM: %w", err)
			}
			if conv.Done() { // ch was the server-final message
				if !conv.Valid() {
					return nil, errors.New("mupdateclient: server signature did not verify")
				}
				return nil, nil
			}
			return []byte(r), nil
		}
	default:
		return fmt.Errorf("mupdateclient: unsupported mechanism %s", mech)
	}
	if err := c.send(func(e *wire.Encoder) {
		e.Line(tag + ` AUTHENTICATE "` + mech + `" {` + strconv.Itoa(len(base64.StdEncoding.EncodeToString(first))) + "+}")
		e.Line(base64.StdEncoding.EncodeToString(first))
	}); err != nil {
		return err
	}
	// Cyrus's client: a line starting "A01 OK"/"A01 NO" ends the exchange;
	// anything else is a base64 challenge.
	for {
		line, err := c.dec.ReadLine()
		if err != nil {
			return fmt.Errorf("mupdateclient: %w", err)
		}
		if strings.HasPrefix(line, tag+" OK") {
			return nil
		}
		if strings.HasPrefix(line, tag+" NO") || strings.HasPrefix(line, tag+" BAD") {
			kind, text, _ := strings.Cut(strings.TrimPrefix(line, tag+" "), " ")
			return &StatusError{Kind: kind, Text: strings.Trim(text, `"`)}
		}
		if step == nil {
			return &wire.ProtocolError{Line: line, Msg: "unexpected challenge for " + mech}
		}
		ch, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return &wire.ProtocolError{Line: line, Msg: "bad base64 challenge"}
		}
		resp, err := step(ch)
		if err != nil {
			c.send(func(e *wire.Encoder) { e.Line("*") })
			return err
		}
		if err := c.send(func(e *wire.Encoder) { e.Line(base64.StdEncoding.EncodeToString(resp)) }); err != nil {
			return err
		}
	}
}

// Find looks a mailbox up; ok is false when the master has none.
func (c *Client) Find(ctx context.Context, name string) (m mupdate.Mailbox, ok bool, err error) {
	done, err := c.begin(ctx)
	if err != nil {
		return m, false, err
	}
	defer done()
	tag := c.nextTag("X")
	if err := c.send(func(e *wire.Encoder) { e.Command(tag, wire.CmdFind, name) }); err != nil {
		return m, false, err
	}
	err = c.result(tag, func(r *wire.Response) error {
		if r.Kind != wire.KindDelete {
			m, ok = toMailbox(r), true
		}
		return nil
	})
	return m, ok, err
}

// List calls fn for every mailbox whose location starts with prefix ("":
// all; sent without an argument), in the server's order.
func (c *Client) List(ctx context.Context, prefix string, fn func(mupdate.Mailbox) error) error {
	done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	tag := c.nextTag("X")
	var args []string
	if prefix != "" {
		args = []string{prefix}
	}
	if err := c.send(func(e *wire.Encoder) { e.Command(tag, wire.CmdList, args...) }); err != nil {
		return err
	}
	return c.result(tag, func(r *wire.Response) error {
		if r.Kind == wire.KindDelete {
			return &wire.ProtocolError{Line: r.Tag + " DELETE", Msg: "DELETE in a LIST"}
		}
		return fn(toMailbox(r))
	})
}

func (c *Client) simple(ctx context.Context, name string, args ...string) error {
	done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	tag := c.nextTag("X")
	if err := c.send(func(e *wire.Encoder) { e.Command(tag, name, args...) }); err != nil {
		return err
	}
	return c.result(tag, nil)
}

// Reserve sends RESERVE name location.
func (c *Client) Reserve(ctx context.Context, name, location string) error {
	return c.simple(ctx, wire.CmdReserve, name, location)
}

// Activate sends ACTIVATE name location acl.
func (c *Client) Activate(ctx context.Context, name, location, acl string) error {
	return c.simple(ctx, wire.CmdActivate, name, location, acl)
}

// Deactivate sends DEACTIVATE name location.
func (c *Client) Deactivate(ctx context.Context, name, location string) error {
	return c.simple(ctx, wire.CmdDeactivate, name, location)
}

// Delete sends DELETE name.
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.simple(ctx, wire.CmdDelete, name)
}

// Noop sends NOOP and waits for its OK. While Update streams, it may be
// called from another goroutine: the master flushes its pending changes
// before the OK, so when Noop returns every change the master had when it
// read the NOOP has been passed to Update's callback (the follow mode's lag
// measurement).
func (c *Client) Noop(ctx context.Context) error {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return net.ErrClosed
	}
	streaming := c.streaming
	if !streaming {
		c.mu.Unlock()
		return c.simple(ctx, wire.CmdNoop)
	}
	c.seq++
	tag := "N" + strconv.Itoa(c.seq)
	ch := make(chan error, 1)
	c.nmu.Lock()
	c.noops[tag] = ch
	c.nmu.Unlock()
	c.mu.Unlock()
	if err := c.send(func(e *wire.Encoder) { e.Command(tag, wire.CmdNoop) }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		c.nmu.Lock()
		delete(c.noops, tag)
		c.nmu.Unlock()
		return ctx.Err()
	}
}

// EventType tells what an Update event is.
type EventType int

const (
	// EventMailbox: Mailbox is the current record (active or reserved).
	EventMailbox EventType = iota + 1
	// EventDelete: the mailbox Name is gone.
	EventDelete
	// EventSynced: the initial full list is complete (the server sent
	// `OK "streaming starts"`); later events are live changes.
	EventSynced
)

// Event is one item of an UPDATE stream.
type Event struct {
	Type    EventType
	Initial bool // part of the initial full list
	Name    string
	Mailbox mupdate.Mailbox // for EventMailbox
}

// Update sends UPDATE (PARTIAL-UPDATE when hosts is non-empty) and calls fn
// for every mailbox of the full list (Initial set), then once with
// EventSynced, then for every change as it arrives. It returns when ctx is
// cancelled, fn returns an error, or the connection fails; the connection
// is unusable afterwards (Close it and, to follow again, dial anew and
// resync — MUPDATE has no incremental catch-up).
func (c *Client) Update(ctx context.Context, hosts []string, fn func(Event) error) error {
	c.mu.Lock()
	if c.streaming || c.closed.Load() {
		c.mu.Unlock()
		return ErrStreaming
	}
	c.streaming = true
	tag := "U01"
	c.mu.Unlock()
	c.nc.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.nc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	defer func() {
		c.closed.Store(true) // an UPDATE connection cannot be reused
		c.nmu.Lock()
		for t, ch := range c.noops {
			ch <- net.ErrClosed
			delete(c.noops, t)
		}
		c.nmu.Unlock()
	}()
	if err := c.send(func(e *wire.Encoder) { e.CommandQuoted(tag, wire.CmdUpdate, hosts...) }); err != nil {
		return err
	}
	initial := true
	for {
		r, err := c.dec.ReadResponse()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("mupdateclient: %w", err)
		}
		switch r.Kind {
		case wire.KindMailbox, wire.KindReserve:
			m := toMailbox(r)
			if err := fn(Event{Type: EventMailbox, Initial: initial, Name: m.Name, Mailbox: m}); err != nil {
				return err
			}
		case wire.KindDelete:
			if initial {
				return &wire.ProtocolError{Line: r.Tag + " DELETE", Msg: "DELETE before the UPDATE's OK"}
			}
			if err := fn(Event{Type: EventDelete, Name: r.Args[0]}); err != nil {
				return err
			}
		case wire.KindOK, wire.KindNO, wire.KindBAD, wire.KindBYE:
			if r.Kind == wire.KindBYE {
				return &StatusError{Kind: r.Kind, Text: r.Text}
			}
			if initial && r.Tag == tag {
				if r.Kind != wire.KindOK {
					return &StatusError{Kind: r.Kind, Text: r.Text}
				}
				initial = false
				if err := fn(Event{Type: EventSynced}); err != nil {
					return err
				}
				continue
			}
			c.nmu.Lock()
			ch := c.noops[r.Tag]
			delete(c.noops, r.Tag)
			c.nmu.Unlock()
			if ch != nil {
				if r.Kind == wire.KindOK {
					ch <- nil
				} else {
					ch <- &StatusError{Kind: r.Kind, Text: r.Text}
				}
			}
		}
	}
}

// Logout sends LOGOUT, waits briefly for the OK and closes.
func (c *Client) Logout(ctx context.Context) error {
	done, err := c.begin(ctx)
	if err != nil {
		return c.Close()
	}
	err = c.send(func(e *wire.Encoder) { e.Line("Q01 LOGOUT") })
	if err == nil {
		err = c.result("Q01", nil)
	}
	done()
	c.Close()
	return err
}

// Close closes the connection.
func (c *Client) Close() error {
	c.closed.Store(true)
	return c.nc.Close()
}
