package mboxlist

import (
	"strconv"
	"strings"
)

// Separators of a Cyrus 3.6 dbname (docs/cyrus-db.md §4.2).
const (
	DBDomainSep = '\x1D' // between domain and the rest
	DBHierSep   = '\x1F' // between components
)

// NameConfig holds the imapd.conf settings that shape mailbox names. The zero
// value means Cyrus's defaults: deletedprefix DELETED, no defaultdomain.
type NameConfig struct {
	DeletedPrefix string // imapd.conf deletedprefix; "" means "DELETED"
	DefaultDomain string // imapd.conf defaultdomain; its prefix is dropped
}

func (c *NameConfig) deletedPrefix() string {
	if c == nil || c.DeletedPrefix == "" {
		return "DELETED"
	}
	return c.DeletedPrefix
}

func (c *NameConfig) defaultDomain() string {
	if c == nil {
		return ""
	}
	return c.DefaultDomain
}

// Name is a mailbox name split the way Cyrus's mbname does it. Components
// hold the real characters (a `^` of the internal name is a `.` here).
type Name struct {
	Domain    string   // "" for the default domain
	Deleted   int64    // delete time (unix seconds) of a DELETED.* name, 0 otherwise
	LocalPart string   // owner's local part for user.* names ("" for shared)
	IsUser    bool     // a user.* name (LocalPart set)
	Boxes     []string // remaining components (folders, or the whole shared name)
}

// splitNonEmpty splits like Cyrus's strarray_split (strtok): empty fields
// are dropped.
func splitNonEmpty(s string, sep byte) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			out = append(out, s)
			break
		}
		if i > 0 {
			out = append(out, s[:i])
		}
		s = s[i+1:]
	}
	return out
}

func (n *Name) fill(domain string, parts []string, c *NameConfig) {
	if domain != "" && domain != c.defaultDomain() {
		n.Domain = domain
	}
	if len(parts) > 2 && parts[0] == c.deletedPrefix() {
		n.Deleted = int64(strtoul16(parts[len(parts)-1])) // Cyrus keeps a time_t and prints it as (unsigned) %X
		parts = parts[1 : len(parts)-1]
	}
	if len(parts) > 1 && parts[0] == "user" {
		n.IsUser = true
		n.LocalPart = parts[1]
		parts = parts[2:]
	}
	n.Boxes = parts
}

// strtoul16 is C's strtoul(s, NULL, 16): leading white space, an optional
// sign (a '-' negates modulo 2^64), an optional 0x, hex digits up to the
// first other byte, ULONG_MAX on overflow.
func strtoul16(s string) uint64 {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") && strings.IndexByte("0123456789abcdefABCDEF", s[2]) >= 0 {
		s = s[2:]
	}
	i := 0
	for i < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[i]) >= 0 {
		i++
	}
	v, err := strconv.ParseUint(s[:i], 16, 64)
	if err != nil {
		if i == 0 {
			return 0
		}
		return ^uint64(0) // overflow: ULONG_MAX, and the sign is not applied
	}
	if neg {
		v = -v
	}
	return v
}

// ParseIntName splits an internal name ("example.com!user.fred.Sent").
func ParseIntName(intname string, c *NameConfig) Name {
	var n Name
	domain := ""
	if i := strings.IndexByte(intname, '!'); i >= 0 {
		domain, intname = intname[:i], intname[i+1:]
	}
	parts := splitNonEmpty(intname, '.')
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "^", ".")
	}
	n.fill(domain, parts, c)
	return n
}

// ParseDBName splits a 3.6 dbname ("example.com\x1Duser\x1Ffred\x1FSent").
func ParseDBName(dbname string, c *NameConfig) Name {
	var n Name
	domain := ""
	if i := strings.IndexByte(dbname, DBDomainSep); i >= 0 {
		domain, dbname = dbname[:i], dbname[i+1:]
	}
	n.fill(domain, splitNonEmpty(dbname, DBHierSep), c)
	return n
}

// IntName is the internal name of n (Cyrus's mbname_intname).
func (n Name) IntName(c *NameConfig) string {
	return n.build(c, '!', '.', func(s string) string { return strings.ReplaceAll(s, ".", "^") })
}

// DBName is the 3.6 dbname of n (Cyrus's mbname_dbname).
func (n Name) DBName(c *NameConfig) string {
	return n.build(c, DBDomainSep, DBHierSep, func(s string) string { return s })
}

func (n Name) build(c *NameConfig, domSep, sep byte, comp func(string) string) string {
	var b strings.Builder
	if n.Domain != "" {
		b.WriteString(n.Domain)
		b.WriteByte(domSep)
	}
	first := true
	put := func(s string) {
		if !first {
			b.WriteByte(sep)
		}
		b.WriteString(s)
		first = false
	}
	if n.Deleted != 0 {
		put(c.deletedPrefix())
	}
	if n.IsUser {
		put("user")
		b.WriteByte(sep)
		b.WriteString(comp(n.LocalPart))
	}
	for _, x := range n.Boxes {
		put(comp(x))
	}
	if n.Deleted != 0 {
		put(strings.ToUpper(strconv.FormatUint(uint64(uint32(n.Deleted)), 16)))
	}
	return b.String()
}

// UserID is the owner of a user.* name: "fred", or "fred@example.com" in a
// domain; "" for shared names. Cyrus's mbname_userid: a DELETED.user.fred.*
// name is owned by fred too.
func (n Name) UserID() string {
	if !n.IsUser {
		return ""
	}
	if n.Domain != "" {
		return n.LocalPart + "@" + n.Domain
	}
	return n.LocalPart
}

// DBName converts an internal name to its 3.6 dbname exactly as Cyrus 3.6
// does (domain separator \x1D, components joined by \x1F, `^` back to `.`,
// the default domain dropped, empty components dropped, a DELETED name's hex
// time reprinted in upper case).
func DBName(intname string, c *NameConfig) string {
	if intname == "" {
		return ""
	}
	if s, ok := simpleMap(intname, c, '.', '!', '^', DBHierSep, '.'); ok {
		return s
	}
	return ParseIntName(intname, c).DBName(c)
}

// MapDBName is the byte mapping under DBName, without its normalisation
// (no default domain dropped, no empty component dropped, a DELETED name's
// time not reprinted): the first '!' becomes 0x1D, every later '.' 0x1F
// and '^' (an escaped dot) '.'. For a name in the form Cyrus writes it,
// MapDBName(n) == DBName(n, nil); unlike DBName it is reversible
// (UnmapDBName), which is what stores keyed by dbname need. Byte order of
// its results is Cyrus's order: the order of mailboxes.db, of
// `ctl_mboxlist -d` and of MUPDATE LIST. docs/formats.md ("Mailbox names")
// has the encoding.
// Example: "example.com!user.john^doe.Sent" → "example.com\x1Duser\x1Fjohn.doe\x1FSent".
func MapDBName(intname string) string {
	var b strings.Builder
	b.Grow(len(intname))
	rest := intname
	if i := strings.IndexByte(intname, '!'); i >= 0 {
		b.WriteString(intname[:i])
		b.WriteByte(DBDomainSep)
		rest = intname[i+1:]
	}
	for i := 0; i < len(rest); i++ {
		b.WriteByte(DBNameByte(rest[i]))
	}
	return b.String()
}

// DBNameByte is MapDBName's mapping of one byte after the domain: '.' to
// 0x1F, '^' to '.', any other byte to itself.
func DBNameByte(c byte) byte {
	switch c {
	case '.':
		return DBHierSep
	case '^':
		return '.'
	}
	return c
}

// UnmapDBName is the inverse of MapDBName.
func UnmapDBName(dbname string) string {
	var b strings.Builder
	b.Grow(len(dbname))
	rest := dbname
	if i := strings.IndexByte(dbname, DBDomainSep); i >= 0 {
		b.WriteString(dbname[:i])
		b.WriteByte('!')
		rest = dbname[i+1:]
	}
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; c {
		case DBHierSep:
			b.WriteByte('.')
		case '.':
			b.WriteByte('^')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// IntNameFromDB converts a 3.6 dbname back to the internal name.
func IntNameFromDB(dbname string, c *NameConfig) string {
	if dbname == "" {
		return ""
	}
	if s, ok := simpleIntName(dbname, c); ok {
		return s
	}
	return ParseDBName(dbname, c).IntName(c)
}

// intNameFromDBKey is IntNameFromDB of a database key's bytes, with one
// allocation (the result) for almost every name.
func intNameFromDBKey(dbname []byte, c *NameConfig) string {
	if len(dbname) == 0 {
		return ""
	}
	if s, ok := simpleMap(dbname, c, DBHierSep, DBDomainSep, '.', '.', '^'); ok {
		return s
	}
	return ParseDBName(string(dbname), c).IntName(c)
}

// simpleIntName is the byte mapping that IntNameFromDB comes down to for
// almost every name: no domain separator, no empty component, not a
// DELETED name. It reports false when the full algorithm is needed.
func simpleIntName(dbname string, c *NameConfig) (string, bool) {
	return simpleMap(dbname, c, DBHierSep, DBDomainSep, '.', '.', '^')
}

// simpleMap maps sep to newSep and from to to, byte by byte, when the name
// has no domain (dom, or '!'), no empty component and does not start with
// the deleted prefix; otherwise it reports false.
func simpleMap[S ~string | ~[]byte](name S, c *NameConfig, sep, dom, from, newSep, to byte) (string, bool) {
	if p := c.deletedPrefix(); name[0] == sep || name[len(name)-1] == sep || len(name) >= len(p) && string(name[:len(p)]) == p {
		return "", false
	}
	b := make([]byte, len(name))
	for i := 0; i < len(name); i++ {
		switch ch := name[i]; ch {
		case sep:
			if name[i-1] == sep {
				return "", false
			}
			b[i] = newSep
		case from:
			b[i] = to
		case dom, '!', DBDomainSep:
			return "", false
		default:
			b[i] = ch
		}
	}
	return string(b), true
}

// IsDeletedName reports whether an internal name is a delayed-delete name
// (`[domain!]DELETED.<name>.<HEX>`).
func IsDeletedName(intname string, c *NameConfig) bool {
	return ParseIntName(intname, c).Deleted != 0
}

// Owner is the userid owning an internal name ("" for shared mailboxes).
func Owner(intname string, c *NameConfig) string { return ParseIntName(intname, c).UserID() }

// Display is a name for people: components joined with sep (e.g. '/' or
// '.'), each decoded from modified UTF-7 and with `^` shown as '.', and
// "@domain" appended for a domain name ("user/fred/Entwürfe@example.com").
// A component that is not valid modified UTF-7 is shown as stored. Machine
// output must use internal names, never this.
func Display(intname string, sep byte, c *NameConfig) string {
	n := ParseIntName(intname, c)
	var parts []string
	if n.Deleted != 0 {
		parts = append(parts, c.deletedPrefix())
	}
	if n.IsUser {
		parts = append(parts, "user", n.LocalPart)
	}
	parts = append(parts, n.Boxes...)
	for i, p := range parts {
		if d, err := DecodeMUTF7(p); err == nil {
			parts[i] = d
		}
	}
	if n.Deleted != 0 {
		parts = append(parts, strings.ToUpper(strconv.FormatUint(uint64(uint32(n.Deleted)), 16)))
	}
	s := strings.Join(parts, string(sep))
	if n.Domain != "" {
		s += "@" + n.Domain
	}
	return s
}

// SplitDomain splits an internal name at its first '!' into the domain
// ("" for none) and the rest, as Cyrus's mbname_from_intname does.
func SplitDomain(intname string) (domain, rest string) {
	if i := strings.IndexByte(intname, '!'); i >= 0 {
		return intname[:i], intname[i+1:]
	}
	return "", intname
}

// SplitUserID splits a Cyrus userid `local[@domain]` at its last '@', as
// Cyrus's mbname_from_userid does; domain is "" without one.
func SplitUserID(userid string) (local, domain string) {
	if i := strings.LastIndexByte(userid, '@'); i >= 0 {
		return userid[:i], userid[i+1:]
	}
	return userid, ""
}

// InboxName returns the internal name of userid's INBOX as Cyrus 3.6 spells
// it: "user.LOCAL", a '.' in LOCAL written '^', and "DOMAIN!user.LOCAL" for
// local@domain (Cyrus's mbname_from_userid then mbname_intname, with no
// defaultdomain). ok is false for a userid that cannot be a Cyrus user:
// empty or longer than 255 bytes, an empty local part or domain, a '^' in
// the local part (it would read back as '.'), or a byte Cyrus's userid
// canonicalisation refuses here (NUL, CR, LF, TAB, space, '!', '/', '*',
// '%').
func InboxName(userid string) (string, bool) {
	if userid == "" || len(userid) > 255 || strings.ContainsAny(userid, "\x00\r\n\t !/*%") {
		return "", false
	}
	local, domain := SplitUserID(userid)
	if local == "" || strings.ContainsRune(local, '^') || strings.Contains(userid, "@") && domain == "" {
		return "", false
	}
	return Name{Domain: domain, IsUser: true, LocalPart: local}.IntName(nil), true
}
