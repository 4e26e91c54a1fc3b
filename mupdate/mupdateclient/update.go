package mupdateclient

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

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
