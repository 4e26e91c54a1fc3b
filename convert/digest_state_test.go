package convert

import (
	"encoding/json"
	"testing"

	"github.com/murderkit/murderkit/registry"
)

// A digest saved with State (through JSON, as a checkpoint keeps it) and
// put back with Restore compares equal to the original, and goes on adding.
func TestDigestStateRoundTrip(t *testing.T) {
	d := &Digest{}
	for i, n := range []string{"user.a", "user.b", "shared.c"} {
		e := registry.Entry{}
		e.Name, e.Server, e.Partition, e.UIDValidity = n, []string{"be1", "be2"}[i%2], "p", uint32(i)
		d.Add(&e)
	}
	b, err := json.Marshal(d.State())
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]SlotState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	r := &Digest{}
	r.Restore(st)
	if diff := d.Compare(r); diff != nil {
		t.Fatalf("restored digest differs: %v", diff)
	}
	e := registry.Entry{}
	e.Name, e.Server = "user.d", "be1"
	d.Add(&e)
	if r.Compare(d) == nil {
		t.Fatal("Compare misses an added entry")
	}
	r.Add(&e)
	if diff := d.Compare(r); diff != nil {
		t.Fatalf("after the same Add: %v", diff)
	}
}
