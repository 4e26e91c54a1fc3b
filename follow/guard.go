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
// authoritative for (cutover or retired).
func (f *Follower) Guard(b mupdate.Backend) mupdate.Backend { return &guard{Backend: b, f: f} }

type guard struct {
	mupdate.Backend
	f *Follower
}

func (g *guard) Write(ctx context.Context, req mupdate.Request) error {
	var locs []registry.Location
	if req.Op != mupdate.OpDelete {
		locs = append(locs, registry.ParseLocation(req.Location))
	}
	cur, ok, err := g.Backend.Lookup(ctx, req.Name)
	if err != nil {
		return err
	}
	if ok {
		locs = append(locs, registry.ParseLocation(cur.Location))
	}
	own := len(locs) > 0
	for _, l := range locs {
		o, err := g.f.bridgeOwns(ctx, l)
		if err != nil {
			return err
		}
		own = own && o
	}
	if !own {
		return &mupdate.Error{
			Text: fmt.Sprintf("mailbox is managed by the mupdate master %s; this bridge only follows it (write there)", g.f.cfg.Addr),
			Err:  ErrFollowing,
		}
	}
	return g.Backend.Write(ctx, req)
}
