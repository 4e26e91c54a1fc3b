package twingen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// Target says where an operation runs.
type Target int

const (
	// Frontend: IMAP commands through the murder's frontend.
	Frontend Target = iota
	// Backend: IMAP commands directly on backend Op.Backend.
	Backend
	// Repush: `ctl_mboxlist -m` on backend Op.Backend.
	Repush
	// Restart: stop and start backend Op.Backend (its cyrmaster).
	Restart
)

func (t Target) String() string {
	switch t {
	case Frontend:
		return "frontend"
	case Backend:
		return "backend"
	case Repush:
		return "ctl_mboxlist -m"
	case Restart:
		return "restart"
	}
	return fmt.Sprintf("target(%d)", int(t))
}

// Backends is the number of backends of each twin murder.
const Backends = 2

// Users is the pool of user names the generator uses (each twin's SASL
// users; each logs in with the password Password(u)). Not all exist as
// mailboxes at once: CREATE and RENAME of users pick from it.
var Users = []string{"alice", "bob", "carol", "dave", "erin", "frank"}

// DomainUsers are the virtual-domain users (imapd.conf `virtdomains:
// userid`): their mailboxes are "example.com!user.yan..." inside Cyrus,
// "user.yan@example.com" to the admin, INBOX to themselves.
var DomainUsers = []string{"yan@example.com", "zed@example.com", "kim@example.org"}

// Password is the SASL password of a pool user.
func Password(u string) string {
	l, _, _ := strings.Cut(u, "@")
	return l + "pw"
}

// Pool is every user of the options' pool (Users, and DomainUsers unless
// NoDomains).
func (o Options) Pool() []string {
	if o.NoDomains {
		return slices.Clone(Users)
	}
	return append(slices.Clone(Users), DomainUsers...)
}

// UserBox is the internal name of user u's INBOX.
func UserBox(u string) string {
	if l, d, ok := strings.Cut(u, "@"); ok {
		return d + "!user." + l
	}
	return "user." + u
}

// split is an internal name's domain ("" for the default domain) and the
// rest.
func split(name string) (dom, local string) {
	if i := strings.IndexByte(name, '!'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

func domainOf(u string) string {
	_, d, _ := strings.Cut(u, "@")
	return d
}

// Op is one operation. Commands are IMAP commands without a tag, run in
// one session logged in as User ("admin" is the Cyrus admin); in them
// "{be0}" and "{be1}" stand for the servernames of the twin's backends.
// The last command is the operation's own; earlier ones prepare it (the
// admin giving itself the x right before a DELETE).
type Op struct {
	Kind     string
	User     string
	Target   Target
	Backend  int
	Commands []string
	// Mailbox is the internal name an XFER moves (the user's INBOX).
	Mailbox string
	apply   func(*Model)
}

func (o Op) String() string {
	switch o.Target {
	case Repush, Restart:
		return fmt.Sprintf("%s: %s on be%d", o.Kind, o.Target, o.Backend)
	case Backend:
		return fmt.Sprintf("%s: as %s on be%d: %s", o.Kind, o.User, o.Backend, strings.Join(o.Commands, "; "))
	}
	return fmt.Sprintf("%s: as %s via frontend: %s", o.Kind, o.User, strings.Join(o.Commands, "; "))
}

// Box is a mailbox the model knows: its backend and the ACL identifiers
// the generator set on it (or it inherited from its parent at CREATE).
type Box struct {
	Backend int
	IDs     map[string]bool
}

// Model is what the generator believes the murder holds, by internal name
// ("user.alice.Proj", "shared.lab"). Intermediate mailboxes Cyrus makes on
// its own are not in it.
type Model struct {
	Boxes map[string]*Box
	// Ghosts were LOCALDELETEd on a backend (value) and are still in the
	// MUPDATE database until that backend re-pushes.
	Ghosts map[string]int
	// Subs are each user's subscriptions (internal names).
	Subs map[string]map[string]bool
}

// Options select what the generator uses, per Cyrus release.
type Options struct {
	// NoUserRename leaves RENAME of whole users out.
	NoUserRename bool
	// NoXfer leaves XFER out.
	NoXfer bool
	// NoLocalDelete leaves LOCALDELETE out.
	NoLocalDelete bool
	// NoSpecialUse leaves CREATE ... (USE (...)) out.
	NoSpecialUse bool
	// NoRestart leaves backend restarts out.
	NoRestart bool
	// NoDomains leaves the virtual-domain users and shared folders out.
	NoDomains bool
}

// Generator produces the operations of one seed.
type Generator struct {
	Seed uint64
	opts Options
	r    *rand.Rand
	m    Model
}

// New returns the generator of seed.
func New(seed uint64, o Options) *Generator {
	return &Generator{Seed: seed, opts: o, r: rand.New(rand.NewPCG(seed, 0x7477696e73)), // "twins"
		m: Model{Boxes: map[string]*Box{}, Ghosts: map[string]int{}, Subs: map[string]map[string]bool{}}}
}

// Model returns the generator's model (read only).
func (g *Generator) Model() *Model { return &g.m }

// Apply records the result of op: ok is whether its last command
// succeeded (for Repush and Restart: whether the tool or restart did).
// Both twins must have given the same result; the harness stops otherwise.
func (g *Generator) Apply(op Op, ok bool) {
	if ok && op.apply != nil {
		op.apply(&g.m)
	}
}

// Segments are the folder name components, modified UTF-7 included
// ("&AOk-t&AOk-" is "été", "&ZeVnLIqe-" is "日本語") and one with a space.
var Segments = []string{"a", "b", "Proj", "Archive", "2026", "&AOk-t&AOk-", "&ZeVnLIqe-", "x y", "Lists", "old"}

// SharedTops are the top-level shared folders the admin creates (internal
// names; "example.com!shared" is "shared@example.com" to the admin).
var SharedTops = []string{"shared", "team", "ops", "example.com!shared"}

var specialUse = map[string]string{"Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Junk": `\Junk`, "Archive": `\Archive`}

var rightSets = []string{"lr", "lrs", "lrswipkxtecda", "l", "w", "lrsw", "lrswi", "p"}

const maxDepth = 5

func q(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Owner returns the user owning an internal name ("" for a shared one):
// "alice" for user.alice.x, "yan@example.com" for example.com!user.yan.
func Owner(name string) string {
	dom, local := split(name)
	if !strings.HasPrefix(local, "user.") {
		return ""
	}
	u, _, _ := strings.Cut(strings.TrimPrefix(local, "user."), ".")
	if dom != "" {
		u += "@" + dom
	}
	return u
}

// External is name as user u sees it (the standard namespace: INBOX for
// u's own; the admin sees a domain's names with "@domain" at the end, a
// user of that domain without it).
func External(name, u string) string {
	if o := Owner(name); o != "" && o == u {
		p := UserBox(u)
		return "INBOX" + strings.TrimPrefix(name, p)
	}
	dom, local := split(name)
	if dom != "" && u == "admin" {
		return local + "@" + dom
	}
	return local
}

func depth(name string) int {
	_, local := split(name)
	return strings.Count(local, ".")
}

func (m *Model) names() []string {
	n := make([]string, 0, len(m.Boxes))
	for k := range m.Boxes {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (m *Model) users() []string {
	var u []string
	for _, n := range m.names() {
		if Owner(n) != "" && depth(n) == 1 {
			u = append(u, Owner(n))
		}
	}
	return u
}

func (m *Model) exists(name string) bool {
	_, ok := m.Boxes[name]
	_, g := m.Ghosts[name]
	return ok || g
}

// subtree returns name and every model mailbox below it, sorted.
func (m *Model) subtree(name string) []string {
	var out []string
	for _, n := range m.names() {
		if n == name || strings.HasPrefix(n, name+".") {
			out = append(out, n)
		}
	}
	return out
}

func (m *Model) move(from, to string) {
	for _, n := range m.subtree(from) {
		m.Boxes[to+strings.TrimPrefix(n, from)] = m.Boxes[n]
		delete(m.Boxes, n)
	}
}

func (g *Generator) pick(s []string) string { return s[g.r.IntN(len(s))] }

// Next returns the next operation for the model's state.
func (g *Generator) Next() Op {
	for {
		if op, ok := g.try(); ok {
			return op
		}
	}
}

type kind struct {
	name   string
	weight int
	gen    func() (Op, bool)
}

func (g *Generator) try() (Op, bool) {
	users := g.m.users()
	kinds := []kind{
		{"create-user", 3, g.createUser},
		{"create-shared", 1, g.createShared},
		{"create", 12, g.create},
		{"rename", 5, g.rename},
		{"delete", 4, g.delete},
		{"delete-user", 1, g.deleteUser},
		{"setacl", 6, g.setACL},
		{"deleteacl", 2, g.deleteACL},
		{"subscribe", 2, g.subscribe},
		{"repush", 1, g.repush},
	}
	if len(users) < 2 {
		kinds[0].weight = 30
	}
	if !g.opts.NoUserRename {
		kinds = append(kinds, kind{"rename-user", 1, g.renameUser})
	}
	if !g.opts.NoXfer {
		kinds = append(kinds, kind{"xfer", 2, g.xfer})
	}
	if !g.opts.NoLocalDelete {
		kinds = append(kinds, kind{"localdelete", 1, g.localDelete})
	}
	if !g.opts.NoRestart {
		kinds = append(kinds, kind{"restart", 1, g.restart})
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	n := g.r.IntN(total)
	for _, k := range kinds {
		if n < k.weight {
			op, ok := k.gen()
			op.Kind = k.name
			return op, ok
		}
		n -= k.weight
	}
	panic("unreachable")
}

func (g *Generator) createUser() (Op, bool) {
	var free []string
	for _, u := range g.opts.Pool() {
		if !g.m.exists(UserBox(u)) {
			free = append(free, u)
		}
	}
	if len(free) == 0 {
		return Op{}, false
	}
	u, be := g.pick(free), g.r.IntN(Backends)
	name := UserBox(u)
	return Op{User: "admin", Target: Backend, Backend: be, Commands: []string{"CREATE " + q(External(name, "admin"))},
		apply: func(m *Model) { m.Boxes[name] = &Box{Backend: be, IDs: map[string]bool{}} }}, true
}

func (g *Generator) createShared() (Op, bool) {
	name, be := g.pick(SharedTops), g.r.IntN(Backends)
	if dom, _ := split(name); g.m.exists(name) || (dom != "" && g.opts.NoDomains) {
		return Op{}, false
	}
	return Op{User: "admin", Target: Backend, Backend: be, Commands: []string{"CREATE " + q(External(name, "admin"))},
		apply: func(m *Model) { m.Boxes[name] = &Box{Backend: be, IDs: map[string]bool{}} }}, true
}

// actor is who acts on an internal name: its owner, or the admin for a
// shared folder.
func actor(name string) string {
	if u := Owner(name); u != "" {
		return u
	}
	return "admin"
}

func (g *Generator) create() (Op, bool) {
	names := g.m.names()
	if len(names) == 0 {
		return Op{}, false
	}
	parent := g.pick(names)
	if depth(parent) >= maxDepth {
		return Op{}, false
	}
	b := g.m.Boxes[parent]
	who := actor(parent)
	seg := g.pick(Segments)
	cmdSuffix := ""
	// Cyrus 3.6 allows special-use only on a user's top-level folders
	// (imapd.c cmd_create); now and then a deeper one, which it refuses
	top := Owner(parent) != "" && depth(parent) == 1
	if !g.opts.NoSpecialUse && who != "admin" && ((top && g.r.IntN(3) == 0) || g.r.IntN(16) == 0) {
		k := []string{"Sent", "Drafts", "Trash", "Junk", "Archive"}[g.r.IntN(5)]
		seg, cmdSuffix = k, " (USE ("+specialUse[k]+"))"
	}
	name := parent + "." + seg
	// now and then a level deeper than any parent: Cyrus fills the gap
	// with an intermediate mailbox (not in the model)
	if g.r.IntN(8) == 0 && depth(name) < maxDepth && cmdSuffix == "" {
		name += "." + g.pick(Segments)
	}
	if g.m.exists(name) {
		return Op{}, false
	}
	inherit := map[string]bool{}
	for id := range b.IDs {
		inherit[id] = true
	}
	be := b.Backend
	return Op{User: who, Target: Frontend, Commands: []string{"CREATE " + q(External(name, who)) + cmdSuffix},
		apply: func(m *Model) { m.Boxes[name] = &Box{Backend: be, IDs: inherit} }}, true
}

// movable are model names that are neither a user's INBOX nor a shared top.
func (g *Generator) movable() []string {
	var out []string
	for _, n := range g.m.names() {
		if (Owner(n) != "" && depth(n) >= 2) || (Owner(n) == "" && depth(n) >= 1) {
			out = append(out, n)
		}
	}
	return out
}

func (g *Generator) rename() (Op, bool) {
	mv := g.movable()
	if len(mv) == 0 {
		return Op{}, false
	}
	from := g.pick(mv)
	who := actor(from)
	// a new parent in the same tree (the user's own, or a shared one)
	var parents []string
	for _, n := range g.m.names() {
		if actor(n) != who || n == from || strings.HasPrefix(n, from+".") {
			continue
		}
		dn, _ := split(n)
		df, _ := split(from)
		if (who == "admin" && dn == df) || Owner(n) == Owner(from) {
			parents = append(parents, n)
		}
	}
	if len(parents) == 0 {
		return Op{}, false
	}
	to := g.pick(parents) + "." + g.pick(Segments)
	if g.m.exists(to) || depth(to)+maxSubDepth(g.m.subtree(from), from) > maxDepth+1 {
		return Op{}, false
	}
	be := g.m.Boxes[from].Backend
	if tb := g.m.Boxes[parentOf(to)]; tb != nil && tb.Backend != be {
		// a rename across backends is Cyrus's XFER-by-RENAME; keep to one
		return Op{}, false
	}
	return Op{User: who, Target: Frontend, Commands: []string{"RENAME " + q(External(from, who)) + " " + q(External(to, who))},
		apply: func(m *Model) { m.move(from, to) }}, true
}

func parentOf(n string) string {
	i := strings.LastIndexByte(n, '.')
	if i < 0 {
		return ""
	}
	return n[:i]
}

func maxSubDepth(tree []string, root string) int {
	d := 0
	for _, n := range tree {
		d = max(d, depth(n)-depth(root))
	}
	return d
}

func (g *Generator) delete() (Op, bool) {
	mv := g.movable()
	if len(mv) == 0 {
		return Op{}, false
	}
	name := g.pick(mv)
	who := actor(name)
	var cmds []string
	if who == "admin" {
		// the admin has no x right on a shared folder it did not grant
		cmds = append(cmds, "SETACL "+q(External(name, "admin"))+" admin lrswipkxtecda")
	}
	cmds = append(cmds, "DELETE "+q(External(name, who)))
	return Op{User: who, Target: Frontend, Commands: cmds,
		apply: func(m *Model) { delete(m.Boxes, name) }}, true
}

func (g *Generator) deleteUser() (Op, bool) {
	users := g.m.users()
	if len(users) < 3 {
		return Op{}, false
	}
	u := g.pick(users)
	name := UserBox(u)
	ext := q(External(name, "admin"))
	return Op{User: "admin", Target: Frontend,
		Commands: []string{"SETACL " + ext + " admin lrswipkxtecda", "DELETE " + ext},
		apply: func(m *Model) {
			for _, n := range m.subtree(name) {
				delete(m.Boxes, n)
			}
			delete(m.Subs, u)
		}}, true
}

// identifier picks an ACL identifier for a mailbox of domain dom owned
// by owner: another user of the pool in that domain (fully qualified),
// group:staff, anyone, or a negative one.
func (g *Generator) identifier(dom, owner string) string {
	var others []string
	for _, u := range g.opts.Pool() {
		if u != owner && domainOf(u) == dom {
			others = append(others, u)
		}
	}
	k := g.r.IntN(6)
	if len(others) == 0 && (k == 2 || k >= 4) {
		k = 0 // the only user of the domain
	}
	switch k {
	case 0:
		return "group:staff"
	case 1:
		return "anyone"
	case 2:
		return "-" + g.pick(others)
	case 3:
		return "-anyone"
	}
	return g.pick(others)
}

func (g *Generator) setACL() (Op, bool) {
	names := g.m.names()
	if len(names) == 0 {
		return Op{}, false
	}
	name := g.pick(names)
	who := actor(name)
	if g.r.IntN(5) == 0 {
		who = "admin" // the admin on anyone's folder
	}
	dom, _ := split(name)
	id, rights := g.identifier(dom, Owner(name)), g.pick(rightSets)
	return Op{User: who, Target: Frontend, Commands: []string{"SETACL " + q(External(name, who)) + " " + q(id) + " " + rights},
		apply: func(m *Model) { m.Boxes[name].IDs[id] = true }}, true
}

func (g *Generator) deleteACL() (Op, bool) {
	names := g.m.names()
	if len(names) == 0 {
		return Op{}, false
	}
	name := g.pick(names)
	who := actor(name)
	var ids []string
	for id := range g.m.Boxes[name].IDs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	id := ""
	if len(ids) == 0 || g.r.IntN(5) == 0 {
		dom, _ := split(name)
		id = g.identifier(dom, Owner(name)) // maybe not in the ACL: Cyrus says OK all the same
	} else {
		id = g.pick(ids)
	}
	return Op{User: who, Target: Frontend, Commands: []string{"DELETEACL " + q(External(name, who)) + " " + q(id)},
		apply: func(m *Model) { delete(m.Boxes[name].IDs, id) }}, true
}

func (g *Generator) subscribe() (Op, bool) {
	names := g.m.names()
	if len(names) == 0 {
		return Op{}, false
	}
	u := g.pick(g.opts.Pool())
	var visible []string
	for _, n := range names {
		if dom, _ := split(n); dom == domainOf(u) {
			visible = append(visible, n)
		}
	}
	if len(visible) == 0 {
		return Op{}, false
	}
	name := g.pick(visible)
	if g.m.Subs[u][name] {
		return Op{User: u, Target: Frontend, Commands: []string{"UNSUBSCRIBE " + q(External(name, u))},
			apply: func(m *Model) { delete(m.Subs[u], name) }}, true
	}
	return Op{User: u, Target: Frontend, Commands: []string{"SUBSCRIBE " + q(External(name, u))},
		apply: func(m *Model) {
			if m.Subs[u] == nil {
				m.Subs[u] = map[string]bool{}
			}
			m.Subs[u][name] = true
		}}, true
}

func (g *Generator) renameUser() (Op, bool) {
	users := g.m.users()
	if len(users) == 0 {
		return Op{}, false
	}
	fu := g.pick(users)
	var free []string
	for _, u := range g.opts.Pool() {
		if !g.m.exists(UserBox(u)) && domainOf(u) == domainOf(fu) {
			free = append(free, u)
		}
	}
	if len(free) == 0 {
		return Op{}, false
	}
	from, to := UserBox(fu), UserBox(g.pick(free))
	for n := range g.m.Ghosts {
		if strings.HasPrefix(n, from+".") {
			return Op{}, false
		}
	}
	return Op{User: "admin", Target: Frontend, Commands: []string{"RENAME " + q(External(from, "admin")) + " " + q(External(to, "admin"))},
		apply: func(m *Model) { m.move(from, to) }}, true
}

func (g *Generator) xfer() (Op, bool) {
	users := g.m.users()
	if len(users) == 0 {
		return Op{}, false
	}
	name := UserBox(g.pick(users))
	for n := range g.m.Ghosts {
		if n == name || strings.HasPrefix(n, name+".") {
			return Op{}, false
		}
	}
	// on the backend that holds the user: Cyrus's frontend runs XFER
	// itself, on its own copy of the list, and moves nothing
	from := g.m.Boxes[name].Backend
	to := 1 - from
	return Op{User: "admin", Target: Backend, Backend: from, Commands: []string{"XFER " + q(External(name, "admin")) + " " + q(fmt.Sprintf("{be%d}", to))}, Mailbox: name,
		apply: func(m *Model) {
			for _, n := range m.subtree(name) {
				m.Boxes[n].Backend = to
			}
		}}, true
}

func (g *Generator) localDelete() (Op, bool) {
	// a leaf, so that the model's tree stays whole
	var leaves []string
	for _, n := range g.movable() {
		if len(g.m.subtree(n)) == 1 {
			leaves = append(leaves, n)
		}
	}
	if len(leaves) == 0 {
		return Op{}, false
	}
	name := g.pick(leaves)
	be := g.m.Boxes[name].Backend
	return Op{User: "admin", Target: Backend, Backend: be, Commands: []string{"LOCALDELETE " + q(External(name, "admin"))},
		apply: func(m *Model) { delete(m.Boxes, name); m.Ghosts[name] = be }}, true
}

func (g *Generator) repush() (Op, bool) {
	return g.RepushOp(g.r.IntN(Backends)), true
}

// RepushOp is `ctl_mboxlist -m` on backend be, for a harness that runs it
// outside the generator's choice (a clean-up before a cutover); Apply it
// like any other operation. It draws nothing from the seed.
func (g *Generator) RepushOp(be int) Op {
	return Op{Target: Repush, Backend: be, apply: func(m *Model) {
		for n, b := range m.Ghosts {
			if b == be {
				delete(m.Ghosts, n)
			}
		}
	}}
}

func (g *Generator) restart() (Op, bool) {
	return Op{Target: Restart, Backend: g.r.IntN(Backends)}, true
}

// Names returns the model's mailbox names, sorted (for tests and reports).
func (m *Model) Names() []string { return slices.Clone(m.names()) }
