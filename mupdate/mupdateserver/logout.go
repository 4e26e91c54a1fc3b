package mupdateserver

import (
	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// logout answers LOGOUT; the session ends.
func (c *conn) logout(tag string) bool {
	c.write(true, func(e *wire.Encoder) { e.Status(tag, wire.KindOK, textByeBye) })
	return false
}
