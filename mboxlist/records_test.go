package mboxlist

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRACLVersions(t *testing.T) {
	e := Entry{Name: "user.fred.x", ACL: acl("fred", full, "a", "l", "b", "r", "c", "w", "admin", "lr", "-d", "l")}
	want := map[Version][]string{
		V30: {"$RACL$U$-d$user.fred.x", "$RACL$U$a$user.fred.x"},
		V32: {"$RACL$U$-d$user.fred.x", "$RACL$U$a$user.fred.x", "$RACL$U$b$user.fred.x", "$RACL$U$c$user.fred.x"},
		V34: {"$RACL$U$b$user.fred.x"},
		V36: {"AU\x1e-d\x1euser\x1ffred\x1fx", "AU\x1ea\x1euser\x1ffred\x1fx", "AU\x1eb\x1euser\x1ffred\x1fx"},
	}
	for v, w := range want {
		var got []string
		for _, k := range RACLKeys(v, &e, []string{"admin"}, nil) {
			got = append(got, string(k))
			rec, err := DecodeRecord(v, k, nil, nil)
			if err != nil || rec.Kind != KindRACL || rec.RACL.Name != e.Name || rec.RACL.Shared {
				t.Errorf("%s: decode %q = %+v, %v", v, k, rec, err)
			}
		}
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("%s:\n%s", v, d)
		}
	}
	if RACLKeys(V25, &e, nil, nil) != nil {
		t.Error("2.5 has no RACL")
	}
	tomb := e
	tomb.Type = FlagDeleted
	if RACLKeys(V36, &tomb, nil, nil) != nil {
		t.Error("tombstone RACL")
	}
}

// Decoding and encoding share no mutable state (mboxconv decodes batches in
// parallel); run with -race.
func TestConcurrentUse(t *testing.T) {
	kvs := benchEntries(200)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			var buf []byte
			for _, kv := range kvs {
				rec, err := DecodeRecord(V36, kv.Key, kv.Value, nil)
				if err != nil {
					done <- err
					return
				}
				buf = AppendJSONEntry(buf[:0], &rec.Entry)
				if _, err := EncodeRecords(V36, &rec.Entry, &EncodeOptions{ReverseACLs: true}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
