package shadow_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrusimapd"
	"github.com/murderkit/murderkit/internal/cyrustest"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
	"github.com/murderkit/murderkit/shadow"
)

// TestRegistrySourceMatchesCyrus loads a real goleveldb registry from the
// entries of a real Cyrus imapd (`ctl_mboxlist -d -y`, intermediates
// included) and checks that the registry side (Store.Visible through
// StoreVisible, then RegistryList) equals the server's own LIST for every
// user.
func TestRegistrySourceMatchesCyrus(t *testing.T) {
	for name, o := range map[string]cyrusimapd.Options{
		"standard":     {},
		"altnamespace": {AltNamespace: true, UnixHierarchySep: true},
		"virtdomains":  {VirtDomains: true},
	} {
		t.Run(name, func(t *testing.T) {
			o.Users = fixtureUsers(o.VirtDomains)
			s := cyrusimapd.Start(t, o)
			users := fixture(t, s, o)
			cmd := cyrustest.AsCyrus(cyrustest.Tool(t, "ctl_mboxlist"), "-C", s.Conf, "-d", "-y")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ctl_mboxlist -d -y: %v", err)
			}
			dec := mboxlist.NewJSONDecoder(bytes.NewReader(out))
			var entries []registry.Entry
			inter := 0
			for dec.Next() {
				e := registry.Entry{Entry: *dec.Entry()}
				if e.Type.Has(mboxlist.FlagIntermediate) {
					inter++
				}
				entries = append(entries, e)
			}
			if err := dec.Err(); err != nil {
				t.Fatal(err)
			}
			if inter == 0 {
				t.Fatalf("fixture has no intermediate entry")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			st, err := leveldb.Open(ctx, t.TempDir(), &leveldb.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Import(ctx, entries); err != nil {
				t.Fatal(err)
			}
			old := imapSource(t, s)
			reg := &shadow.RegistrySource{Name: "leveldb", Visible: shadow.StoreVisible(st, nil)}
			for _, u := range users {
				ol, err := old.List(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				rl, err := reg.ListIn(ctx, u, ol.Namespace)
				if err != nil {
					t.Fatal(err)
				}
				if d := shadow.Compare(ol, rl, shadow.CompareOptions{StructuralOnly: true}); len(d) != 0 {
					t.Errorf("%s: registry side differs from real Cyrus:\n%s", u.Name, fmtDiffs(d))
				}
			}
			owners, err := shadow.StoreOwners(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if len(owners) < 3 {
				t.Errorf("StoreOwners = %v", owners)
			}
		})
	}
}
