package mupdateserver

import (
	"context"

	"github.com/murderkit/murderkit/mupdate"
)

// activate answers ACTIVATE name location acl.
func (c *conn) activate(ctx context.Context, tag string, args []string) bool {
	return c.writeCmd(ctx, tag, mupdate.Request{Op: mupdate.OpActivate, Name: args[0], Location: args[1], ACL: args[2]})
}
