package shadow_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/murderkit/murderkit/shadow"
)

func TestMUTF7(t *testing.T) {
	tests := []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"été", "&AOk-t&AOk-"},
		{"a&b", "a&-b"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"😀", "&2D3eAA-"},
	}
	for _, tc := range tests {
		if got := shadow.EncodeMUTF7(tc.utf8); got != tc.mutf7 {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", tc.utf8, got, tc.mutf7)
		}
		if got, err := shadow.DecodeMUTF7(tc.mutf7); err != nil || got != tc.utf8 {
			t.Errorf("DecodeMUTF7(%q) = %q, %v, want %q", tc.mutf7, got, err, tc.utf8)
		}
	}
	for _, bad := range []string{"&", "&AOk", "&A-", "\x01", "&*-"} {
		if _, err := shadow.DecodeMUTF7(bad); err == nil {
			t.Errorf("DecodeMUTF7(%q) succeeded", bad)
		}
	}
}

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

func TestRegistryListRules(t *testing.T) {
	vis := []shadow.VisibleMailbox{
		{Name: "user.alice"}, {Name: "user.alice.a"}, {Name: "user.alice.a.b", Intermediate: true}, {Name: "user.alice.a.b.c"},
		{Name: "user.alice.x^y"}, {Name: "user.bob.p"}, {Name: "user.bob.p.c.d"}, {Name: "shared"},
		{Name: "DELETED.user.alice.T.5F00"}, {Name: "example.com!user.dora"}, {Name: "user.alice"},
	}
	render := func(l *shadow.Listing) string {
		var b strings.Builder
		for _, m := range l.Mailboxes {
			b.WriteString(m.Name + " " + strings.Join(m.Attrs, ",") + "\n")
		}
		return b.String()
	}
	std := shadow.RegistryList("alice", shadow.StandardNamespace(false, false), vis)
	want := `INBOX \HasChildren
INBOX.a \HasChildren
INBOX.a.b.c \HasNoChildren
INBOX.x^y \HasNoChildren
shared \HasNoChildren
user.bob.p \HasChildren
user.bob.p.c.d \HasNoChildren
`
	if got := render(std); got != want {
		t.Errorf("standard:\n%s\nwant:\n%s", got, want)
	}
	alt := shadow.RegistryList("alice", shadow.StandardNamespace(true, true), vis)
	want = `INBOX \HasNoChildren
Other Users/bob/p \HasChildren
Other Users/bob/p/c/d \HasNoChildren
Shared Folders/shared \HasNoChildren
a \HasChildren
a/b/c \HasNoChildren
x.y \HasNoChildren
`
	if got := render(alt); got != want {
		t.Errorf("alt+unix:\n%s\nwant:\n%s", got, want)
	}
	dom := shadow.RegistryList("dora@example.com", shadow.StandardNamespace(false, false), vis)
	if got := render(dom); got != "INBOX \\HasNoChildren\n" {
		t.Errorf("domain user sees:\n%s", got)
	}
}

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
	want := []string{"user.alice", "user.alice.int", "user.alice.negbob", "user.bob.y"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VisibleTo (-want +got):\n%s", diff)
	}
}

func TestReadResults(t *testing.T) {
	in := `{"user":"a","status":"equal"}
{"user":"b","status":"error","error":"x"}
{"user":"b","status":"different"}
{"user":"c","sta`
	got, err := shadow.ReadResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["b"].Status != shadow.Different {
		t.Errorf("ReadResults = %v", got)
	}
	if _, err := shadow.ReadResults(strings.NewReader("garbage\n{\"user\":\"a\"}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("ReadResults(bad middle line) err = %v", err)
	}
}
