package shadow_test

import (
	"strings"
	"testing"

	"github.com/murderkit/murderkit/shadow"
)

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
