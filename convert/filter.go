package convert

import (
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// Filter selects entries. Every non-empty list must match (an entry passes
// when it matches any value of each list given). Names are internal names
// as `ctl_mboxlist -d` spells them.
type Filter struct {
	// Slot restricts to the entries whose preferred primary location is
	// covered by the slot of that name (SlotDef must then hold it).
	Slot    string
	SlotDef *registry.Slot
	// Servers, Partitions: the preferred primary location's server and
	// partition.
	Servers    []string
	Partitions []string
	// Domains: the part before '!' of the name; "" selects names without
	// a domain.
	Domains []string
	// Prefixes: hierarchy-aware name prefixes ("user.foo" matches user.foo
	// and user.foo.*, never user.foobar).
	Prefixes []string
}

// Empty reports whether the filter passes everything.
func (f *Filter) Empty() bool {
	return f.Slot == "" && len(f.Servers) == 0 && len(f.Partitions) == 0 && len(f.Domains) == 0 && len(f.Prefixes) == 0
}

// String is a stable description (for checkpoints and summaries).
func (f *Filter) String() string {
	var b strings.Builder
	add := func(k string, vs []string) {
		if len(vs) == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + strings.Join(vs, ","))
	}
	if f.Slot != "" {
		add("slot", []string{f.Slot})
	}
	add("server", f.Servers)
	add("partition", f.Partitions)
	add("domain", f.Domains)
	add("prefix", f.Prefixes)
	return b.String()
}

// HasPrefix is the hierarchy-aware prefix match of registry.Store.List:
// prefix itself, or prefix followed by the separator '.'; a prefix ending in
// '!' (a domain) or '.' matches everything it begins.
func HasPrefix(name, prefix string) bool {
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	if len(name) == len(prefix) {
		return true
	}
	last := prefix[len(prefix)-1]
	return last == '!' || last == '.' || name[len(prefix)] == '.'
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *registry.Entry) bool {
	loc := e.Primary()
	if f.Slot != "" && (f.SlotDef == nil || !f.SlotDef.Contains(loc)) {
		return false
	}
	if len(f.Servers) > 0 && !contains(f.Servers, loc.Server) {
		return false
	}
	if len(f.Partitions) > 0 && !contains(f.Partitions, loc.Partition) {
		return false
	}
	if d, _ := mboxlist.SplitDomain(e.Name); len(f.Domains) > 0 && !contains(f.Domains, d) {
		return false
	}
	if len(f.Prefixes) > 0 {
		ok := false
		for _, p := range f.Prefixes {
			if HasPrefix(e.Name, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// ListPrefix is the registry List prefix that covers the filter: the single
// name prefix when exactly one is given, otherwise "" (everything).
func (f *Filter) ListPrefix() string {
	if len(f.Prefixes) == 1 {
		return f.Prefixes[0]
	}
	return ""
}

func contains(vs []string, s string) bool {
	for _, v := range vs {
		if v == s {
			return true
		}
	}
	return false
}
