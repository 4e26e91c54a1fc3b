package mupdateserver

import (
	"context"

	"github.com/murderkit/murderkit/mupdate"
)

// deactivate answers DEACTIVATE name location.
func (c *conn) deactivate(ctx context.Context, tag string, args []string) bool {
	return c.writeCmd(ctx, tag, mupdate.Request{Op: mupdate.OpDeactivate, Name: args[0], Location: args[1]})
}
