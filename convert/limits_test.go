package convert

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// Import refuses an entry real Cyrus cannot hold, whatever the source (a
// file reader checks first; a registry source or a hand-made dump reaches
// this check), and stores nothing after it.
func TestImportRefusesWhatCyrusCannotHold(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []mboxlist.Entry{
		{Name: "user." + strings.Repeat("x", mboxlist.MaxUserIDLen+1), Partition: "default", Server: "be1"},
		{Name: "user.fred", Partition: "default", Server: "be1", ACL: mboxlist.ACL{{ID: "fred", Rights: "lq"}}},
		{Name: "user.fred", Partition: strings.Repeat("p", mboxlist.MaxPartitionLen+1), Server: "be1"},
	} {
		st, err := registry.Open(ctx, "leveldb://"+filepath.Join(t.TempDir(), "reg"))
		if err != nil {
			t.Fatal(err)
		}
		all := append(entries(3), bad)
		_, err = Import(ctx, sliceSource(all), st, ImportOptions{Batch: 1})
		if !errors.Is(err, mboxlist.ErrCyrusLimit) {
			t.Errorf("import of %.40q: %v, want ErrCyrusLimit", bad.Name, err)
		}
		if _, err := st.Get(ctx, bad.Name); err == nil {
			t.Errorf("%.40q stored", bad.Name)
		}
		st.Close()
	}
}
