package mupdateserver

import (
	"context"

	"github.com/murderkit/murderkit/mupdate"
)

// reserve answers RESERVE name location.
func (c *conn) reserve(ctx context.Context, tag string, args []string) bool {
	return c.writeCmd(ctx, tag, mupdate.Request{Op: mupdate.OpReserve, Name: args[0], Location: args[1]})
}
