package twingen

import (
	"fmt"
	"strings"
	"testing"
)

// run drives a generator for n steps, every op succeeding except those
// whose index is in fail, and returns the ops' strings.
func run(seed uint64, n int, fail func(i int) bool) []string {
	g := New(seed, Options{})
	var out []string
	for i := 0; i < n; i++ {
		op := g.Next()
		out = append(out, op.String())
		g.Apply(op, !fail(i))
	}
	return out
}

// The same seed and the same results give the same history; another seed
// or another result gives another one.
func TestSameSeedSameHistory(t *testing.T) {
	never := func(int) bool { return false }
	a, b := run(42, 300, never), run(42, 300, never)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatal("seed 42 gave two different histories")
	}
	if c := run(43, 300, never); strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Fatal("seeds 42 and 43 gave the same history")
	}
	if d := run(42, 300, func(i int) bool { return i == 5 }); strings.Join(a, "\n") == strings.Join(d, "\n") {
		t.Fatal("a refused op 5 did not change the model")
	}
}

// Every kind shows up in a long history, and the model stays a tree of
// existing users' mailboxes with valid ACL targets.
func TestHistoryCoversEveryKind(t *testing.T) {
	g := New(7, Options{})
	seen := map[string]int{}
	domains := false
	for i := 0; i < 2000; i++ {
		op := g.Next()
		seen[op.Kind]++
		if strings.Contains(strings.Join(op.Commands, " "), "@example.") || strings.Contains(op.User, "@") {
			domains = true
		}
		for _, c := range op.Commands {
			if strings.ContainsAny(c, "\r\n") {
				t.Fatalf("op %d: command with a line break: %q", i, c)
			}
		}
		g.Apply(op, true)
		for _, n := range g.Model().Names() {
			if u := Owner(n); u != "" {
				if _, ok := g.Model().Boxes[UserBox(u)]; !ok {
					t.Fatalf("op %d (%s): model has %s without %s", i, op, n, UserBox(u))
				}
			}
			if depth(n) > maxDepth+1 {
				t.Fatalf("op %d (%s): %s deeper than %d", i, op, n, maxDepth+1)
			}
		}
	}
	for _, k := range []string{"create-user", "create-shared", "create", "rename", "delete", "delete-user", "setacl",
		"deleteacl", "subscribe", "repush", "rename-user", "xfer", "localdelete", "restart"} {
		if seen[k] == 0 {
			t.Errorf("no %s op in 2000 steps (%v)", k, seen)
		}
	}
	t.Log(fmt.Sprint(seen))
	if !domains {
		t.Error("no operation on a virtual-domain mailbox in 2000 steps")
	}
}

func TestOwner(t *testing.T) {
	for n, want := range map[string]string{"user.alice.x": "alice", "example.com!user.yan.a": "yan@example.com",
		"example.com!shared": "", "shared.user": "", "user.bob": "bob"} {
		if got := Owner(n); got != want {
			t.Errorf("Owner(%q) = %q, want %q", n, got, want)
		}
	}
}

func TestExternalNames(t *testing.T) {
	for _, c := range [][3]string{
		{"user.alice", "alice", "INBOX"},
		{"user.alice.a.b", "alice", "INBOX.a.b"},
		{"user.alice.a", "bob", "user.alice.a"},
		{"user.alicex", "alice", "user.alicex"},
		{"shared.x", "alice", "shared.x"},
		{"example.com!user.yan.a", "yan@example.com", "INBOX.a"},
		{"example.com!user.yan.a", "admin", "user.yan.a@example.com"},
		{"example.com!user.yan.a", "zed@example.com", "user.yan.a"},
		{"example.com!shared", "admin", "shared@example.com"},
		{"example.com!shared.b", "zed@example.com", "shared.b"},
	} {
		if got := External(c[0], c[1]); got != c[2] {
			t.Errorf("External(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// An XFER runs on the backend that holds the user and names the other;
// the model moves the user's whole tree only when the XFER succeeded.
func TestXferMovesTheUserOnlyOnOK(t *testing.T) {
	for _, ok := range []bool{false, true} {
		g := New(5, Options{})
		var op Op
		for i := 0; ; i++ {
			if i == 2000 {
				t.Fatal("no XFER of a user with a subfolder in 2000 steps of seed 5")
			}
			op = g.Next()
			if op.Kind == "xfer" && len(g.Model().subtree(op.Mailbox)) > 1 {
				break
			}
			g.Apply(op, true)
		}
		from := g.Model().Boxes[op.Mailbox].Backend
		if op.Target != Backend || op.Backend != from {
			t.Fatalf("%s: not on the user's backend be%d", op, from)
		}
		if want := fmt.Sprintf(`"{be%d}"`, 1-from); !strings.HasSuffix(op.Commands[0], want) {
			t.Fatalf("%s: does not name the other backend %s", op, want)
		}
		tree := g.Model().subtree(op.Mailbox)
		g.Apply(op, ok)
		for _, n := range tree {
			want := from
			if ok {
				want = 1 - from
			}
			if got := g.Model().Boxes[n].Backend; got != want {
				t.Errorf("XFER answered ok=%v: the model has %s on be%d, want be%d", ok, n, got, want)
			}
		}
	}
}
