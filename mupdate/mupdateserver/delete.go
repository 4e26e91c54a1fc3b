package mupdateserver

import (
	"context"

	"github.com/murderkit/murderkit/mupdate"
)

// deleteCmd answers DELETE name.
func (c *conn) deleteCmd(ctx context.Context, tag string, args []string) bool {
	return c.writeCmd(ctx, tag, mupdate.Request{Op: mupdate.OpDelete, Name: args[0]})
}
