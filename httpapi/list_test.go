package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// GET /v1/mailboxes through Client.List gives exactly what Store.List
// gives (every field, revisions, tombstones with the d flag, no ACL vs an
// empty one, several locations), in the same order, with the snapshot's
// revision; prefix= and slot= select; count=1 counts; the token is
// required; a stream cut before its end line is an error, never a shorter
// list.
func TestListMailboxesStream(t *testing.T) {
	st, _, ts := setup(t, nil)
	ctx := context.Background()
	extra := mk("user.alice.Old", "127.0.0.1:11143", "default", "alice", "lrswipkxtecdan")
	extra.Type |= mboxlist.FlagDeleted
	extra.UniqueID, extra.UIDValidity, extra.CreatedModseq, extra.FolderModseq, extra.Mtime = "u-1", 7, 3, 9, 1700000000
	extra.History = []mboxlist.HistoryItem{{Name: "user.alice.Older", Mtime: 1600000000, UIDValidity: 7, Partition: "default"}}
	noACL := mk("shared.noacl", "127.0.0.1:11143", "default")
	noACL.ACL = nil
	noACL.Locations = append(noACL.Locations, registry.Location{Server: "127.0.0.3", Partition: "p9"})
	for _, e := range []registry.Entry{extra, noACL} {
		if _, err := st.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateSlot(ctx, registry.Slot{Name: "s3", State: registry.SlotMirrored, Locations: []registry.Location{{Server: "localhost"}}}); err != nil {
		t.Fatal(err)
	}
	collect := func(list func(context.Context, string, func(registry.Entry) error) (int64, error), prefix string) ([]registry.Entry, int64, error) {
		var out []registry.Entry
		rev, err := list(ctx, prefix, func(e registry.Entry) error { out = append(out, e); return nil })
		return out, rev, err
	}
	c, err := httpapi.NewClient(ts.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "user.alice", "shared"} {
		want, wrev, err := collect(st.List, prefix)
		if err != nil {
			t.Fatal(err)
		}
		got, grev, err := collect(c.List, prefix)
		if err != nil {
			t.Fatalf("List(%q) through the bridge: %v", prefix, err)
		}
		if d := cmp.Diff(want, got); d != "" || grev != wrev || len(want) == 0 {
			t.Errorf("List(%q): revision %d, want %d; diff (-store +bridge):\n%s", prefix, grev, wrev, d)
		}
		n, err := c.Count(ctx, prefix)
		if err != nil || n != len(want) {
			t.Errorf("Count(%q) = %d, %v; want %d", prefix, n, err, len(want))
		}
	}
	var slot []string
	if _, err := c.ListSlot(ctx, "s3", func(e registry.Entry) error { slot = append(slot, e.Name); return nil }); err != nil || !cmp.Equal(slot, []string{"user.bob"}) {
		t.Errorf("ListSlot(s3) = %v, %v", slot, err)
	}
	// the token
	for _, tok := range []string{"", "wrong"} {
		nc, _ := httpapi.NewClient(ts.URL, tok)
		if _, err := nc.List(ctx, "", func(registry.Entry) error { return nil }); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("List with token %q: %v, want 401", tok, err)
		}
	}
	// a stream cut short
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"entry":{"n":"user.x","l":["be!p"]}}` + "\n"))
	}))
	defer cut.Close()
	cc, _ := httpapi.NewClient(cut.URL, "")
	n := 0
	_, err = cc.List(ctx, "", func(registry.Entry) error { n++; return nil })
	if err == nil || !errors.Is(err, registry.ErrUnavailable) || !strings.Contains(err.Error(), "without its end line") {
		t.Errorf("a cut stream: %v after %d entries, want an error", err, n)
	}
}
