package main

import (
	"context"
	"testing"

	"github.com/murderkit/murderkit/registry"
)

func addLocation(t *testing.T, reg, name, server, partition string) {
	t.Helper()
	ctx := context.Background()
	st, err := registry.Open(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := st.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	e.Locations = append(e.Locations, registry.Location{Server: server, Partition: partition})
	if _, err := st.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
}
