package registry

import (
	"fmt"
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
)

// DBName is the registry's key of an internal name: mboxlist.MapDBName,
// Cyrus 3.6's dbname for every name ValidateName accepts in the form Cyrus
// writes it, so that keys sort in Cyrus order (mailboxes.db, MUPDATE LIST).
func DBName(name string) string { return mboxlist.MapDBName(name) }

// NameFromDB is the inverse of DBName (mboxlist.UnmapDBName).
func NameFromDB(db string) string { return mboxlist.UnmapDBName(db) }

// ValidateName checks that name can be a mailbox name in the registry: not
// empty, no control bytes (which the dbname encoding uses), no byte ≥ 0x80
// (internal names are modified UTF-7), no empty hierarchy component, at most
// one '!' (the domain separator) and a non-empty domain when present.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("empty mailbox name: %w", ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7F {
			return fmt.Errorf("mailbox name %q: byte %#02x at %d not allowed: %w", name, c, i, ErrInvalid)
		}
	}
	rest := name
	if i := strings.IndexByte(name, '!'); i >= 0 {
		if i == 0 {
			return fmt.Errorf("mailbox name %q: empty domain: %w", name, ErrInvalid)
		}
		rest = name[i+1:]
		if strings.IndexByte(rest, '!') >= 0 {
			return fmt.Errorf("mailbox name %q: more than one '!': %w", name, ErrInvalid)
		}
	}
	for _, c := range strings.Split(rest, ".") {
		if c == "" {
			return fmt.Errorf("mailbox name %q: empty hierarchy component: %w", name, ErrInvalid)
		}
	}
	return nil
}

// PrefixRange describes the dbnames a hierarchy prefix selects: the key Exact
// itself and every key starting with Under. All means every key. A prefix
// ending in '!' selects a whole domain (Exact empty).
type PrefixRange struct {
	All   bool
	Exact string
	Under string
}

// Prefix turns a List prefix into the dbname range it selects.
func Prefix(prefix string) (PrefixRange, error) {
	if prefix == "" {
		return PrefixRange{All: true}, nil
	}
	if strings.HasSuffix(prefix, "!") && strings.Count(prefix, "!") == 1 {
		if len(prefix) == 1 {
			return PrefixRange{}, fmt.Errorf("prefix %q: empty domain: %w", prefix, ErrInvalid)
		}
		return PrefixRange{Under: prefix[:len(prefix)-1] + "\x1D"}, nil
	}
	if err := ValidateName(prefix); err != nil {
		return PrefixRange{}, err
	}
	db := DBName(prefix)
	return PrefixRange{Exact: db, Under: db + "\x1F"}, nil
}

// Match reports whether dbname is in the range.
func (r PrefixRange) Match(db string) bool {
	return r.All || db == r.Exact || strings.HasPrefix(db, r.Under)
}

// Start is the smallest dbname in the range.
func (r PrefixRange) Start() string {
	if r.All {
		return ""
	}
	if r.Exact != "" {
		return r.Exact
	}
	return r.Under
}

// End is the first dbname after the range ("" with All: no end). Keys in
// [Start, End) that do not Match must be skipped by the caller (there are
// none for valid names, which hold no byte below 0x20).
func (r PrefixRange) End() string {
	if r.All {
		return ""
	}
	return prefixEnd(r.Under)
}

// prefixEnd returns the smallest string greater than every string with
// prefix p.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xFF {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}
