package mboxlist

import (
	"strings"
	"testing"
)

// A Cyrus 3.6+ master stores a RENAME target a backend pushed as "host!" with
// `P ""`: present and empty, which every reader and writer keeps apart from no
// P at all (values as real Cyrus 3.6.1 wrote them; interop's
// TestRealHistoryRoundTrips checks whole files against real Cyrus).
func TestEmptyPartitionRoundTrips(t *testing.T) {
	cases := []struct {
		name, value string
		present     bool
	}{
		{"user.alice.Work", `%(T er P "" S 127.0.0.1:44373 M 1796489932 A %(alice lrswipkxtecdan bob lr))`, true},
		{"user.alice.Sent", `%(T er P default S 127.0.0.1:44373 M 1796489931 A %(alice lrswipkxtecdan))`, true},
		{"user.alice.Projects", `%(T ed I 1c6kfwcbbrxt1bstcg2uadgp V 1796489933 C 1 F 2 M 1796489932)`, false},
	}
	for _, c := range cases {
		for _, fast := range []bool{true, false} {
			var e Entry
			var ve *ValueError
			if fast {
				ve = scanEntry([]byte(c.value), modeN, &e, nil)
			} else {
				ve = decodeTree([]byte(c.value), modeN, &e, nil)
			}
			if ve != nil {
				t.Fatal(ve)
			}
			e.Name = c.name
			if e.Has(FieldPartition) != c.present {
				t.Errorf("%s (fast %v): partition present = %v, want %v", c.name, fast, e.Has(FieldPartition), c.present)
			}
			got, err := ValueN(&e, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.value {
				t.Errorf("%s: written back as\n%s\nwant\n%s", c.name, got, c.value)
			}
			// JSON, as ctl_mboxlist -d prints it, and back
			js := string(AppendJSONEntry(nil, &e))
			if c.present != strings.Contains(js, `"partition": `) {
				t.Errorf("%s: JSON %s", c.name, js)
			}
			d := NewJSONDecoder(strings.NewReader("{\n" + js + "\n}\n"))
			if !d.Next() {
				t.Fatalf("%s: %v", c.name, d.Err())
			}
			if back := d.Entry(); back.Has(FieldPartition) != c.present || back.Partition != e.Partition {
				t.Errorf("%s: JSON read back with partition %q present=%v", c.name, back.Partition, back.Has(FieldPartition))
			}
		}
	}
	// the legacy line of an empty partition is "host!", read back as such
	var e Entry
	if ve := scanEntry([]byte(cases[0].value), modeN, &e, nil); ve != nil {
		t.Fatal(ve)
	}
	e.Name = cases[0].name
	line, err := AppendLegacyLine(nil, V36, &e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(line), "\t16 127.0.0.1:44373! alice") {
		t.Errorf("legacy line %q", line)
	}
	back, err := ParseLegacyLine(V36, line[:len(line)-1])
	if err != nil || !back.Has(FieldPartition) || back.Partition != "" || back.Location() != "127.0.0.1:44373!" {
		t.Errorf("legacy line read back as %+v, %v", back, err)
	}
	// no partition and no server: no legacy line can say so
	e.Server, e.Empty = "", 0
	if _, err := AppendLegacyLine(nil, V36, &e); err == nil {
		t.Error("a legacy line for an entry with neither partition nor server")
	}
	// the history item of a real 3.6.1 rename has no P; one with P "" keeps it
	for _, h := range []string{`%(N user^alice^Projects M 1 V 2 C 1 F 2 T ed)`, `%(N user^alice^Projects M 1 V 2 C 1 F 2 T ed P "")`} {
		h = strings.ReplaceAll(h, "^", "\x1F")
		v := `%(T e N user` + "\x1F" + `alice P default V 2 C 1 F 2 M 1 H (` + h + `))`
		ie, err := DecodeIValue("u1", []byte(v), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := ValueI(&ie, nil)
		if string(got) != v {
			t.Errorf("I value written back as\n%q\nwant\n%q", got, v)
		}
	}
}

// After a RENAME, the tombstone under the old name and the live mailbox share
// a uniqueid; Cyrus keeps one I record, the live one's (values as real Cyrus
// 3.6.1 wrote them).
func TestPickByID(t *testing.T) {
	live := []byte("%(T e N user\x1Falice\x1FWork P default V 7 C 1 F 2 M 5 A %(alice lr) H (%(N user\x1Falice\x1FProjects M 5 V 7 C 1 F 2 T ed)))")
	tomb := []byte("%(T ed N user\x1Falice\x1FProjects V 7 C 1 F 2 M 5 H ())")
	for _, order := range [][][]byte{{live, tomb}, {tomb, live}} {
		i, err := PickByID([]byte("Iu1"), order, nil)
		if err != nil || string(order[i]) != string(live) {
			t.Errorf("PickByID chose %d (%v), want the live mailbox", i, err)
		}
	}
	// all tombstones (a rename, then an immediate delete): the one with the
	// history, else the newest
	older := []byte("%(T ed N user\x1Fa V 7 M 4 H ())")
	newer := []byte("%(T ed N user\x1Fb V 7 M 9 H ())")
	if i, err := PickByID([]byte("Iu1"), [][]byte{newer, older}, nil); err != nil || i != 0 {
		t.Errorf("two tombstones: chose %d (%v), want the newer", i, err)
	}
	// two live mailboxes with one uniqueid: an error naming both
	a := []byte("%(T e N user\x1Fa V 7 M 4 H ())")
	b := []byte("%(T e N user\x1Fb V 7 M 4 H ())")
	if _, err := PickByID([]byte("Iu1"), [][]byte{a, b}, nil); err == nil || !strings.Contains(err.Error(), "user.a") || !strings.Contains(err.Error(), "user.b") {
		t.Errorf("two live mailboxes: %v", err)
	}
}

// Diff names each differing field, and absent differs from empty.
func TestDiffNamesFields(t *testing.T) {
	a := Entry{Name: "x", Server: "be1", Partition: "", ACL: ACL{}}
	a.SetPresent(FieldPartition, true)
	b := Entry{Name: "x", Server: "be1", UIDValidity: 3}
	got := Diff(&a, &b, DiffOptions{})
	var fields []string
	for _, d := range got {
		fields = append(fields, d.String())
	}
	want := []string{`partition: "" ≠ absent`, `acl: {} ≠ absent`, `uidvalidity: 0 ≠ 3`}
	if strings.Join(fields, "|") != strings.Join(want, "|") {
		t.Errorf("Diff = %q, want %q", fields, want)
	}
	if d := Diff(&a, &b, DiffOptions{NoACLPresence: true}); len(d) != 2 {
		t.Errorf("with NoACLPresence: %v", d)
	}
	// a stale Empty bit on a field with a value is not a difference
	c := Entry{Name: "x", Partition: "p"}
	d := c
	d.SetPresent(FieldPartition, true)
	if x := Diff(&c, &d, DiffOptions{}); len(x) != 0 {
		t.Errorf("stale bit: %v", x)
	}
}
