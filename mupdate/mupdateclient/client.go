package mupdateclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
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

// Close closes the connection.
func (c *Client) Close() error {
	c.closed.Store(true)
	return c.nc.Close()
}
