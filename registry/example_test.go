package registry_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	_ "github.com/murderkit/murderkit/registry/backends"
)

func Example() {
	dir, _ := os.MkdirTemp("", "registry-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := registry.Open(ctx, "leveldb://"+filepath.Join(dir, "reg"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	e := registry.Entry{}
	e.Name = "user.fred.Sent"
	e.Locations = []registry.Location{{Server: "backend1", Partition: "default"}}
	e.ACL = mboxlist.ACL{{ID: "fred", Rights: "lrswipkxtecdan"}, {ID: "group:staff", Rights: "lr"}}
	created, _ := s.Create(ctx, e)
	_, err = s.Create(ctx, e) // a second creator loses
	fmt.Println(created.Primary(), err)

	names, _ := s.Visible(ctx, "alice", []string{"staff"})
	fmt.Println(names)

	rev, _ := s.List(ctx, "user.fred", func(e registry.Entry) error { return nil })
	tomb, _ := s.Delete(ctx, "user.fred.Sent", created.Revision)
	for ev := range s.Watch(ctx, rev) {
		fmt.Println(ev.Type, ev.Name, ev.Revision == tomb.Revision)
		break
	}
	// Output:
	// backend1!default registry: create "user.fred.Sent": already exists
	// [user.fred.Sent]
	// delete user.fred.Sent true
}
