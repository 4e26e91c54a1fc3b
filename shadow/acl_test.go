package shadow_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/shadow"
)

func TestVisibleTo(t *testing.T) {
	entries := []shadow.DumpEntry{
		{Name: "user.alice", MBType: "e", ACL: map[string]string{"alice": "lrs"}},
		{Name: "user.alice.int", MBType: "ei"},
		// a negative l hides an own mailbox too (Cyrus 3.6.1)
		{Name: "user.alice.negany", MBType: "e", ACL: map[string]string{"alice": "lrs", "-anyone": "lr"}},
		{Name: "user.alice.negstaff", MBType: "e", ACL: map[string]string{"alice": "lrs", "-group:staff": "l"}},
		{Name: "user.alice.negbob", MBType: "e", ACL: map[string]string{"alice": "lrs", "-bob": "l"}},
		{Name: "user.bob", MBType: "e", ACL: map[string]string{"bob": "lrs", "alice": "r"}},
		{Name: "user.bob.x", MBType: "e", ACL: map[string]string{"anyone": "lr", "-alice": "l"}},
		{Name: "user.bob.y", MBType: "e", ACL: map[string]string{"group:staff": "lr"}},
		{Name: "user.bob.z", MBType: "ed", ACL: map[string]string{"anyone": "lr"}},
		{Name: "cal", MBType: "c", ACL: map[string]string{"anyone": "lr"}},
		{Name: "res", MBType: "ez", ACL: map[string]string{"anyone": "lr"}},
		{Name: "example.com!pub", MBType: "e", ACL: map[string]string{"anyone": "lr"}},
	}
	var got []string
	for _, v := range shadow.VisibleTo(entries, "alice", []string{"staff"}) {
		got = append(got, v.Name)
	}
	want := []string{"user.alice", "user.alice.negbob", "user.bob.y"} // intermediates never: LIST "" "*" does not show them
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VisibleTo (-want +got):\n%s", diff)
	}
}
