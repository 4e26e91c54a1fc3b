package mboxlist

import (
	"fmt"
	"strings"
)

// Rights is a Cyrus rights string ("lrswipkxtecdan", digits for the custom
// rights 0-9, and the legacy macros c and d).
type Rights string

// Rights bits, as Cyrus lib/acl.h numbers them.
const (
	RightLookup     uint32 = 1 << 0  // l
	RightRead       uint32 = 1 << 1  // r
	RightSeen       uint32 = 1 << 2  // s
	RightWrite      uint32 = 1 << 3  // w
	RightInsert     uint32 = 1 << 4  // i
	RightPost       uint32 = 1 << 5  // p
	RightCreate     uint32 = 1 << 6  // k
	RightDeleteMbox uint32 = 1 << 7  // x
	RightDeleteMsg  uint32 = 1 << 8  // t
	RightExpunge    uint32 = 1 << 9  // e
	RightAdmin      uint32 = 1 << 10 // a
	RightAnnotate   uint32 = 1 << 11 // n
)

const rightLetters = "lrswipkxtean"

var rightBits = map[byte]uint32{
	'l': RightLookup, 'r': RightRead, 's': RightSeen, 'w': RightWrite, 'i': RightInsert,
	'p': RightPost, 'k': RightCreate, 'x': RightDeleteMbox, 't': RightDeleteMsg,
	'e': RightExpunge, 'a': RightAdmin, 'n': RightAnnotate,
}

// Mask is the rights bit mask of r, as Cyrus's cyrus_acl_strtomask computes
// it with the default deleteright (c): the legacy macro c means k and x, d
// means t and e; 0-9 are the custom bits 12..21 (1 is bit 12, 0 is bit 21).
// Characters Cyrus does not know are ignored, as Cyrus ignores them.
func (r Rights) Mask() uint32 {
	var m uint32
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == 'c':
			m |= RightCreate | RightDeleteMbox
		case c == 'd':
			m |= RightDeleteMsg | RightExpunge
		case c >= '1' && c <= '9':
			m |= 1 << (12 + uint(c-'1'))
		case c == '0':
			m |= 1 << 21
		default:
			m |= rightBits[c]
		}
	}
	return m
}

// Has reports whether r grants the right named by letter c (after expanding
// the legacy macros: "c" has k and x).
func (r Rights) Has(c byte) bool {
	want := Rights(string(c)).Mask()
	return want != 0 && r.Mask()&want == want
}

// RightsFromMask prints a mask in Cyrus's canonical order ("lrswipkxtean"
// then the digits 0-9).
func RightsFromMask(m uint32) Rights {
	var b strings.Builder
	for i := 0; i < len(rightLetters); i++ {
		if m&rightBits[rightLetters[i]] != 0 {
			b.WriteByte(rightLetters[i])
		}
	}
	if m&(1<<21) != 0 {
		b.WriteByte('0')
	}
	for d := 0; d < 9; d++ {
		if m&(1<<(12+uint(d))) != 0 {
			b.WriteByte(byte('1' + d))
		}
	}
	return Rights(b.String())
}

// Negative reports whether the item is a negative right ("-fred").
func (it ACLItem) Negative() bool { return strings.HasPrefix(it.ID, "-") }

// Identifier is the identifier without the leading '-' of a negative item.
func (it ACLItem) Identifier() string { return strings.TrimPrefix(it.ID, "-") }

// ParseACLTab reads the tab form Cyrus keeps in memory and 2.x values store:
// `id TAB rights TAB` repeated (the last TAB may be missing). An identifier
// without rights is an error (Cyrus drops it silently). Empty input is an
// empty, non-nil ACL.
func ParseACLTab(s string) (ACL, error) {
	a := ACL{}
	pos := 0
	for pos < len(s) {
		t := strings.IndexByte(s[pos:], '\t')
		if t < 0 {
			return a, fmt.Errorf("%w: ACL byte %d: identifier %q has no rights", ErrSyntax, pos, s[pos:])
		}
		id := s[pos : pos+t]
		pos += t + 1
		var rights string
		if u := strings.IndexByte(s[pos:], '\t'); u >= 0 {
			rights = s[pos : pos+u]
			pos += u + 1
		} else {
			rights = s[pos:]
			pos = len(s)
		}
		a = append(a, ACLItem{ID: id, Rights: rights})
	}
	return a, nil
}

// TabString is the tab form `id TAB rights TAB ...` (with the trailing TAB,
// as Cyrus builds it from a dlist ACL).
func (a ACL) TabString() string {
	var b strings.Builder
	for _, it := range a {
		b.WriteString(it.ID)
		b.WriteByte('\t')
		b.WriteString(it.Rights)
		b.WriteByte('\t')
	}
	return b.String()
}

// Get returns the rights of the exact identifier id ("-fred" for a negative
// item) and whether it is present.
func (a ACL) Get(id string) (Rights, bool) {
	for _, it := range a {
		if it.ID == id {
			return Rights(it.Rights), true
		}
	}
	return "", false
}

// Identity is who asks: a userid and the identifiers it holds besides itself
// (groups as "group:staff"). Anonymous is the identity of an anonymous login.
type Identity struct {
	User      string
	Groups    []string
	Anonymous bool
}

// NewIdentity is the identity of a login as Cyrus's auth_unix builds it:
// userid, and groups given as names ("staff") or identifiers
// ("group:staff"), kept as identifiers. The userid "anonymous" is the
// anonymous login (Cyrus's anonymous auth state has that userid).
func NewIdentity(userid string, groups []string) Identity {
	who := Identity{User: userid, Anonymous: userid == "anonymous"}
	for _, g := range groups {
		who.Groups = append(who.Groups, GroupIdentifier(g))
	}
	return who
}

// GroupIdentifier is the ACL identifier of a group: "group:" and the name
// (a name that already has the prefix is returned as it is).
func GroupIdentifier(g string) string {
	if strings.HasPrefix(g, "group:") {
		return g
	}
	return "group:" + g
}

// Identifiers lists the ACL identifiers (positive form) the identity
// matches, as Matches decides: its userid, "anyone", "anonymous" when
// Anonymous, its groups. Index lookups scan exactly these.
func (who Identity) Identifiers() []string {
	ids := make([]string, 0, 3+len(who.Groups))
	if who.User != "" {
		ids = append(ids, who.User)
	}
	ids = append(ids, "anyone")
	if who.Anonymous && who.User != "anonymous" {
		ids = append(ids, "anonymous")
	}
	return append(ids, who.Groups...)
}

// Matches reports whether the identity holds identifier id (positive form):
// "anyone" always, "anonymous" only when Anonymous, the user, its groups.
func (who Identity) Matches(id string) bool {
	switch {
	case id == "anyone":
		return true
	case id == "anonymous":
		return who.Anonymous
	case id == who.User && who.User != "":
		return true
	}
	for _, g := range who.Groups {
		if g == id {
			return true
		}
	}
	return false
}

// Effective computes the rights the identity has by this ACL the way Cyrus's
// cyrus_acl_myrights does: the union of the positive items it matches, minus
// the union of the negative items ("-id") it matches. Admin status
// (imapd.conf admins, the owner's implicit rights) is not part of the ACL
// and is left to the caller.
func (a ACL) Effective(who Identity) uint32 {
	var pos, neg uint32
	for _, it := range a {
		if it.Negative() {
			if who.Matches(it.Identifier()) {
				neg |= Rights(it.Rights).Mask()
			}
		} else if who.Matches(it.ID) {
			pos |= Rights(it.Rights).Mask()
		}
	}
	return pos &^ neg
}

// Denies reports whether a negative item ("-id") the identity matches
// takes away the right named by letter c.
func (a ACL) Denies(who Identity, c byte) bool {
	want := Rights(string(c)).Mask()
	for _, it := range a {
		if it.Negative() && who.Matches(it.Identifier()) && Rights(it.Rights).Mask()&want != 0 {
			return true
		}
	}
	return false
}

// Can reports whether the identity has the right named by letter c.
func (a ACL) Can(who Identity, c byte) bool {
	want := Rights(string(c)).Mask()
	return want != 0 && a.Effective(who)&want == want
}
