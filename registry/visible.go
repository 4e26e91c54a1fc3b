package registry

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
)

// Listable reports whether e can ever appear in a non-admin's IMAP LIST:
// mboxlist.Entry.Listable (email, not d/z/i, not DELETED.*), which decides
// which entries have reverse-ACL index rows.
func Listable(e *Entry) bool { return e.Listable(nil) }

// The reverse-ACL index, as logical keys (backends put their own prefix in
// front). For every Listable entry:
//
//	"l" dbname                                  the entry is listable
//	"a" domain 0x00 "+" id 0x00 dbname           id has `l` (positive)
//	"a" domain 0x00 "-" id 0x00 dbname           -id has `l` (negative: removes it)
//
// domain is "" for the default domain. Identifiers are Cyrus's (user,
// "anyone", "anonymous", "group:NAME"); they never hold 0x00.
const (
	idxListable = "l"
	idxACL      = "a"
)

// IndexListable is the first byte of the "listable" index row: the row is
// IndexListable + dbname.
const IndexListable = idxListable

// ACLIndexPrefixes calls fn with the prefix ("a" domain 0x00 sign id 0x00)
// of each reverse-ACL index row of e, in ACL order (a prefix may come
// twice when the ACL names an identifier twice); the row is the prefix +
// dbname. p is valid only during the call. It reports whether e is
// Listable: when it is not, e has no index rows at all and fn is not
// called. IndexKeys is the same rows as sorted strings; this form is for
// bulk writers that must not allocate per row.
func ACLIndexPrefixes(e *Entry, buf []byte, fn func(p []byte)) bool {
	if !Listable(e) {
		return false
	}
	domain, _ := mboxlist.SplitDomain(e.Name)
	for _, it := range e.ACL {
		if strings.IndexByte(it.Rights, 'l') < 0 {
			continue
		}
		id, sign := it.ID, byte('+')
		if strings.HasPrefix(id, "-") {
			id, sign = id[1:], '-'
		}
		if id == "" || strings.IndexByte(id, 0) >= 0 {
			continue
		}
		buf = append(append(buf[:0], idxACL...), domain...)
		buf = append(append(append(buf, 0, sign), id...), 0)
		fn(buf)
	}
	return true
}

// IndexKeys returns the logical reverse-ACL index keys of e (none when e is
// not Listable), sorted and without duplicates.
func IndexKeys(e *Entry) []string {
	db := DBName(e.Name)
	keys := make([]string, 1, 1+len(e.ACL))
	keys[0] = idxListable + db
	if !ACLIndexPrefixes(e, nil, func(p []byte) { keys = append(keys, string(p)+db) }) {
		return nil
	}
	if !sort.StringsAreSorted(keys) {
		sort.Strings(keys)
	}
	out := keys[:0]
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			out = append(out, k)
		}
	}
	return out
}

// StoredIndexKeys returns the index keys a store may hold for e, to remove
// when e is rewritten or deleted: IndexKeys, and for an intermediate entry
// also the rows written before intermediates were left out of the index
// (removing an absent row is harmless).
func StoredIndexKeys(e *Entry) []string {
	if !e.Type.Has(mboxlist.FlagIntermediate) {
		return IndexKeys(e)
	}
	c := *e
	c.Type &^= mboxlist.FlagIntermediate
	return IndexKeys(&c)
}

// OwnRow reports whether the logical index key k ("a" domain 0x00 sign id
// 0x00 dbname) is a row of a user on a mailbox of that user's own
// hierarchy, such as the owner's `l` on user.fred.Sent. VisibleRules lists
// the own hierarchy whatever its ACL says, and only that user's query reads
// the user's rows (unlike "anyone", "anonymous" and "group:…" rows, which
// other users' queries read), so such a row never changes an answer: a
// store may leave it out (the etcd store does: one key fewer per typical
// mailbox). Any other key, or one that does not parse, reports false.
func OwnRow(k string) bool {
	rest, ok := strings.CutPrefix(k, idxACL)
	if !ok {
		return false
	}
	domain, rest, ok := strings.Cut(rest, "\x00")
	if !ok || rest == "" || (rest[0] != '+' && rest[0] != '-') {
		return false
	}
	id, db, ok := strings.Cut(rest[1:], "\x00")
	if !ok || id == "anyone" || id == "anonymous" || strings.HasPrefix(id, "group:") {
		return false
	}
	q, err := newVisibleQuery(id, nil)
	if err != nil || q.ownDB == "" || q.domain != domain {
		return false
	}
	return db == q.ownDB || (strings.HasPrefix(db, q.ownDB) && db[len(q.ownDB)] == 0x1F)
}

func aclPrefix(domain, sign, id string) string {
	return idxACL + domain + "\x00" + sign + id + "\x00"
}

// DiffKeys returns the keys in old but not in new (to delete) and in new but
// not in old (to add); both inputs sorted.
func DiffKeys(old, new []string) (del, add []string) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || (i < len(old) && old[i] < new[j]):
			del = append(del, old[i])
			i++
		case i == len(old) || new[j] < old[i]:
			add = append(add, new[j])
			j++
		default:
			i++
			j++
		}
	}
	return del, add
}

// IndexScanner scans logical index keys starting with prefix, in byte order,
// calling fn with the rest of each key (after prefix). Backends implement it
// over one consistent read where they can.
type IndexScanner func(ctx context.Context, prefix string, fn func(rest string) error) error

// VisibleRules computes Store.Visible over a backend's index: the rule of
// mboxlist.Entry.ListableBy (docs/entry-model.md, "Who sees a mailbox"),
// answered from the index instead of by reading every entry (a negative `l`
// hides an own mailbox too): userid is `local[@domain]` and sees only that
// domain; its own hierarchy (user.LOCAL and below, '.' in LOCAL escaped as
// '^') by prefix; plus every listable mailbox where the user, "anyone",
// "anonymous" (for the anonymous user only) or one of the groups has `l`,
// unless one of those identifiers has `l` as a negative right. The answer is
// in Cyrus LIST order: the user's own hierarchy, then other users'
// mailboxes, then shared ones, each in dbname order.
func VisibleRules(ctx context.Context, scan IndexScanner, userid string, groups []string) ([]string, error) {
	q, err := newVisibleQuery(userid, groups)
	if err != nil {
		return nil, err
	}
	dompfx := q.dompfx
	var own []string
	if q.ownDB != "" {
		err := scan(ctx, idxListable+q.ownDB, func(rest string) error {
			if rest == "" || rest[0] == 0x1F {
				own = append(own, q.ownDB+rest)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	granted := map[string]bool{}
	for _, id := range q.ids {
		err := scan(ctx, aclPrefix(q.domain, "+", id), func(db string) error {
			granted[db] = true
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// A negative `l` hides a mailbox from its own user as well: Cyrus
	// 3.6.1 lists one of the user's own mailboxes only when
	// cyrus_acl_myrights gives `l`, and that subtracts the negative items
	// ("-anyone l" on user.fred.x hides it from fred).
	denied := map[string]bool{}
	if len(granted) > 0 || len(own) > 0 {
		for _, id := range q.ids {
			err := scan(ctx, aclPrefix(q.domain, "-", id), func(db string) error {
				delete(granted, db)
				denied[db] = true
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	out := make([]string, 0, len(own)+len(granted))
	for _, db := range own {
		if !denied[db] {
			out = append(out, NameFromDB(db))
		}
		delete(granted, db)
	}
	var users, shared []string
	for db := range granted {
		if strings.HasPrefix(db[len(dompfx):], "user\x1F") {
			users = append(users, db)
		} else {
			shared = append(shared, db)
		}
	}
	sort.Strings(users)
	sort.Strings(shared)
	for _, db := range users {
		out = append(out, NameFromDB(db))
	}
	for _, db := range shared {
		out = append(out, NameFromDB(db))
	}
	return out, nil
}

type visibleQuery struct {
	domain string   // "" for the default domain
	dompfx string   // domain + 0x1D, or ""
	ownDB  string   // dbname of the user's INBOX, "" for anonymous
	ids    []string // identifiers that match the user
}

func newVisibleQuery(userid string, groups []string) (visibleQuery, error) {
	var q visibleQuery
	if userid == "" || strings.ContainsAny(userid, "\x00!") {
		return q, fmt.Errorf("bad userid %q: %w", userid, ErrInvalid)
	}
	local, domain := mboxlist.SplitUserID(userid)
	if local == "" {
		return q, fmt.Errorf("bad userid %q: %w", userid, ErrInvalid)
	}
	for _, g := range groups {
		if g = strings.TrimPrefix(g, "group:"); g == "" || strings.IndexByte(g, 0) >= 0 {
			return q, fmt.Errorf("bad group %q: %w", g, ErrInvalid)
		}
	}
	q.domain = domain
	q.ids = mboxlist.NewIdentity(userid, groups).Identifiers()
	if q.domain != "" {
		q.dompfx = q.domain + "\x1D"
	}
	if userid != "anonymous" {
		q.ownDB = q.dompfx + "user\x1F" + local // the dbname keeps a literal dot
	}
	return q, nil
}

// VisiblePrefixes returns every index prefix VisibleRules may scan for this
// user, so that a backend can read them all in one round trip.
func VisiblePrefixes(userid string, groups []string) ([]string, error) {
	q, err := newVisibleQuery(userid, groups)
	if err != nil {
		return nil, err
	}
	var out []string
	if q.ownDB != "" {
		out = append(out, idxListable+q.ownDB)
	}
	for _, sign := range []string{"+", "-"} {
		for _, id := range q.ids {
			out = append(out, aclPrefix(q.domain, sign, id))
		}
	}
	return out, nil
}
