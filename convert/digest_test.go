package convert

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"testing"

	"github.com/murderkit/murderkit/registry"
)

// TestDigestSumIsSHA256Mod2p256 checks the slot sum against math/big: the
// sum of the SHA-256 of every entry's canonical bytes, mod 2^256 (many
// entries, so every word carries).
func TestDigestSumIsSHA256Mod2p256(t *testing.T) {
	all := entries(300)
	var d Digest
	want := new(big.Int)
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	for i := range all {
		e := Prepare(&all[i], "")
		e.Locations = []registry.Location{{Server: "one", Partition: "p"}} // one slot
		d.Add(&e)
		h := sha256.Sum256(Canonical(&e, false))
		want.Add(want, new(big.Int).SetBytes(h[:]))
	}
	want.Mod(want, mod)
	s := d.Slot("server:one")
	if s.Count != len(all) {
		t.Fatalf("count %d, want %d", s.Count, len(all))
	}
	if got, w := s.Sum(), fmt.Sprintf("%064x", want); got != w {
		t.Fatalf("sum %s, want %s", got, w)
	}
}

// TestDigestMerge splits the entries over several digests (as the export's
// workers do) and merges them: equal to one digest of all entries, per
// slot; a missing entry still shows.
func TestDigestMerge(t *testing.T) {
	all := entries(200)
	var whole Digest
	parts := make([]Digest, 3)
	for i := range all {
		e := Prepare(&all[i], "")
		whole.Add(&e)
		parts[i*7%3].Add(&e)
	}
	var merged Digest
	for i := range parts {
		merged.Merge(&parts[i])
	}
	merged.Merge(&Digest{}) // an empty part changes nothing
	if d := whole.Compare(&merged); d != nil {
		t.Fatalf("merged parts differ from the whole: %v", d)
	}
	if merged.Total() != len(all) || len(merged.Slots()) != 3 {
		t.Fatalf("merged: %d entries in %v", merged.Total(), merged.Slots())
	}
	// Entries of server beK (i%3 == K) alternate: each lands in its slot.
	for k, want := range []int{67, 67, 66} {
		if n := whole.Slot(fmt.Sprintf("server:be%d", k)).Count; n != want {
			t.Errorf("slot server:be%d holds %d entries, want %d", k, n, want)
		}
	}
	var short Digest
	short.Merge(&parts[0])
	short.Merge(&parts[1])
	if d := whole.Compare(&short); len(d) == 0 {
		t.Fatal("a digest missing a part compares equal")
	}
}

// TestSlotDigestCarry: the word sum carries across all four words and
// wraps mod 2^256.
func TestSlotDigestCarry(t *testing.T) {
	const m = ^uint64(0)
	s := SlotDigest{sum: [4]uint64{0, m, m, m}}
	s.add(&[4]uint64{0, 0, 0, 1})
	if s.sum != [4]uint64{1, 0, 0, 0} {
		t.Fatalf("carry: %x", s.sum)
	}
	s = SlotDigest{sum: [4]uint64{m, m, m, m}}
	s.add(&[4]uint64{0, 0, 0, 2})
	if s.sum != [4]uint64{0, 0, 0, 1} {
		t.Fatalf("wrap: %x", s.sum)
	}
}
