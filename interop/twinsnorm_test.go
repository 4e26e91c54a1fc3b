package interop

import (
	"testing"

	"github.com/murderkit/murderkit/internal/murdertest"
)

// The hex time ending a DELETED.* name is normalised also when the name
// has a space (twins seed 25 on 3.10, step 44: `DELETE "ops.x y.&AOk-t&AOk-"`
// on the delayed-delete backend left DELETED.ops.x y.&AOk-t&AOk-.6B14AB57 on
// twin A and ...AB56 on twin B, a second apart; docs/twins.md).
func TestTwinNormDeletedNameWithSpace(t *testing.T) {
	tw := &twin{be: [2]*murdertest.Instance{{Servername: "127.0.0.1:1"}, {Servername: "127.0.0.1:2"}}}
	dump := func(hex string) map[string]dumpEntry {
		n := "DELETED.ops.x y.&AOk-t&AOk-." + hex
		return tw.normDump(map[string]dumpEntry{n: {{Key: "name", Value: n}, {Key: "acl", Value: "{anyone=lrs}"}}})
	}
	a, b := dump("6B14AB57"), dump("6B14AB56")
	want := "DELETED.ops.x y.&AOk-t&AOk-.{hex#1}"
	for _, d := range []map[string]dumpEntry{a, b} {
		e, ok := d[want]
		if !ok || e.get("name") != "DELETED.ops.x y.&AOk-t&AOk-.{hex}" {
			t.Errorf("normDump: %v, want the key %q and name DELETED.ops.x y.&AOk-t&AOk-.{hex}", d, want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{`* LIST (\HasNoChildren) "." "DELETED.ops.x y.&AOk-t&AOk-.6B14AB57"`, `* LIST (\HasNoChildren) "." "DELETED.ops.x y.&AOk-t&AOk-.{hex}"`},
		{`* LIST (\HasNoChildren) "." DELETED.ops.b.6B14AB57`, `* LIST (\HasNoChildren) "." DELETED.ops.b.{hex}`},
		{`* LIST (\HasNoChildren) "." "ops.x y.6B14AB57"`, `* LIST (\HasNoChildren) "." "ops.x y.6B14AB57"`},
	} {
		if got := tw.norm(c.in); got != c.want {
			t.Errorf("norm(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
