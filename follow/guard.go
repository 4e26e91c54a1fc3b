package follow

import (
	"context"
	"errors"
	"fmt"

	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/registry"
)

// ErrFollowing is the sentinel of a write refused because the old master
// owns the mailbox (errors.Is on the *mupdate.Error Guard returns).
var ErrFollowing = errors.New("follow: mailbox owned by the followed master")

// Guard wraps the MUPDATE backend of a following bridge: reads pass through
// (they are served from the registry); a write is refused with
// NO "…managed by the mupdate master HOST:PORT…" unless the mailbox's
// location (the request's and the current one) lies in a slot the bridge is
// authoritative for (cutover or retired). One exception: an ACTIVATE in a
// slot the bridge owns of a mailbox the old master holds reserved elsewhere
// (a move into the slot by XFER) is accepted.
func (f *Follower) Guard(b mupdate.Backend) mupdate.Backend { return &guard{Backend: b, f: f} }

type guard struct {
	mupdate.Backend
	f *Follower
}

func (g *guard) Write(ctx context.Context, req mupdate.Request) error {
	cur, ok, err := g.Backend.Lookup(ctx, req.Name)
	if err != nil {
		return err
	}
	own := req.Op != mupdate.OpDelete || ok
	if req.Op != mupdate.OpDelete {
		o, err := g.f.bridgeOwns(ctx, registry.ParseLocation(req.Location))
		if err != nil {
			return err
		}
		own = own && o
	}
	curOwned := true
	if ok {
		if curOwned, err = g.f.bridgeOwns(ctx, registry.ParseLocation(cur.Location)); err != nil {
			return err
		}
	}
	if own && !curOwned && req.Op == mupdate.OpActivate && g.reservedOnMaster(ctx, req.Name, cur) {
		// A mailbox moved into a cut-over slot (Cyrus's XFER): its source
		// backend, still on the old master, DEACTIVATEd it there (the
		// follower mirrored the reservation); the destination, which
		// talks to this bridge, ACTIVATEs it at its own location. The
		// write-through takes the ACTIVATE to the old master. The
		// follower's masterTakes is the move the other way.
		g.f.log.Info("follow: a mailbox reserved by the old master is activated in a cut-over slot (moved by XFER): taken over",
			"name", req.Name, "from", cur.Location, "to", req.Location)
		return g.Backend.Write(ctx, req)
	}
	if !own || !curOwned {
		return &mupdate.Error{
			Text: fmt.Sprintf("mailbox is managed by the mupdate master %s; this bridge only follows it (write there)", g.f.cfg.Addr),
			Err:  ErrFollowing,
		}
	}
	return g.Backend.Write(ctx, req)
}

// reservedOnMaster reports whether the old master holds name reserved at a
// location the bridge does not own. The registry's entry cur says so when
// the follower has the master's DEACTIVATE already; Cyrus's master sends
// changes to its UPDATE clients in 5-second batches, so otherwise the master
// is asked (FIND, on a connection of its own). An error counts as no.
func (g *guard) reservedOnMaster(ctx context.Context, name string, cur mupdate.Mailbox) bool {
	if cur.State == mupdate.Reserved {
		return true
	}
	m, ok, err := g.f.findOnMaster(ctx, name)
	if err != nil {
		g.f.log.Warn("follow: could not ask the master about a mailbox activated in a cut-over slot", "name", name, "err", err)
		return false
	}
	if !ok || m.State != mupdate.Reserved {
		return false
	}
	owned, err := g.f.bridgeOwns(ctx, registry.ParseLocation(m.Location))
	return err == nil && !owned
}
