package shadow_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/shadow"
)

func mb(name string, attrs ...string) shadow.Mailbox {
	return shadow.Mailbox{Name: name, Delim: ".", Attrs: attrs}
}

func TestCompare(t *testing.T) {
	old := &shadow.Listing{Extended: true, Mailboxes: []shadow.Mailbox{
		mb("INBOX", `\HASCHILDREN`, `\Marked`), mb("INBOX.Sent", `\HasNoChildren`, `\Sent`, `\Subscribed`),
		mb("INBOX.gone", `\HasNoChildren`), mb("shared", `\HasChildren`),
		{Name: "slash", Delim: "/", Attrs: []string{`\HasNoChildren`}},
	}}
	nw := &shadow.Listing{Extended: true, Mailboxes: []shadow.Mailbox{
		mb("INBOX.Sent", `\Subscribed`, `\HasNoChildren`), mb("INBOX", `\Unmarked`, `\HasChildren`),
		mb("INBOX.new", `\HasNoChildren`), mb("shared", `\HasNoChildren`),
		{Name: "slash", Delim: ".", Attrs: []string{`\HasNoChildren`}}, mb("dup"), mb("dup"),
	}}
	got := shadow.Compare(old, nw, shadow.CompareOptions{})
	var kinds []string
	for _, d := range got {
		kinds = append(kinds, string(d.Kind)+" "+d.Name)
	}
	want := []string{"attrs INBOX.Sent", "only_old INBOX.gone", "only_new INBOX.new", "only_new dup", "duplicate dup", "attrs shared", "delim slash"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("Compare (-want +got):\n%s", diff)
	}
	// Structural only: \Sent no longer counts.
	got = shadow.Compare(old, nw, shadow.CompareOptions{StructuralOnly: true})
	for _, d := range got {
		if d.Name == "INBOX.Sent" {
			t.Errorf("StructuralOnly still reports %v", d)
		}
	}
	// Not extended on one side: special-use and \Subscribed are ignored.
	nw.Extended = false
	for _, d := range shadow.Compare(old, nw, shadow.CompareOptions{}) {
		if d.Name == "INBOX.Sent" {
			t.Errorf("non-extended compare reports %v", d)
		}
	}
	if d := shadow.Compare(old, old, shadow.CompareOptions{}); len(d) != 0 {
		t.Errorf("Compare(x, x) = %v", d)
	}
}
