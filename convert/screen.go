package convert

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// What an import must not do to a registry already in use, found before it
// writes anything (screen):
//
//   - An entry without a server (a backend's own mailboxes.db read without
//     --server) would replace a live registry entry that has one, dropping
//     where the mailbox lives: refused (ServerlessError) unless
//     ImportOptions.AllowServerless.
//   - A Cyrus tombstone (an entry with the d flag: a rename or delete left
//     it, often with the uniqueid of the live mailbox) would replace a live
//     registry entry of the same name: never. The tombstone is left out and
//     the live entry stays (Summary.KeptLive, a warning). Where the registry
//     has no live entry of that name the tombstone is stored as what it is,
//     an entry with the d flag (Cyrus's own record, so that an export gives
//     it back), which the bridge never shows as a mailbox.

// ServerlessError refuses an import whose entries without a server would
// replace registry entries that have one. Nothing was written.
type ServerlessError struct {
	Count    int      // entries refused
	Examples []string // the first few, "name (registry: server!partition)"
}

func (e *ServerlessError) Error() string {
	more := ""
	if e.Count > len(e.Examples) {
		more = fmt.Sprintf(", and %d more", e.Count-len(e.Examples))
	}
	return fmt.Sprintf("%d entries have no server and would replace registry entries that have one, losing where those mailboxes live: %s%s; nothing was written",
		e.Count, strings.Join(e.Examples, ", "), more)
}

// maxExamples is how many names a refusal or warning lists.
const maxExamples = 5

// screenGets is the largest number of names screen looks up one by one;
// more are checked against one listing of the registry.
const screenGets = 2000

type screenResult struct {
	shadowed map[string]struct{} // source tombstones whose name is live in the registry
	replaced []string            // serverless over located: examples
	nrepl    int
}

// screen reads the selected entries of src once and checks the ones that
// have no server or are tombstones against the registry.
func screen(ctx context.Context, src EntrySource, store registry.Reader, o *ImportOptions) (*screenResult, error) {
	const serverless, tombstone = 1, 2
	want := map[string]uint8{}
	err := src(ctx, func(e *mboxlist.Entry) error {
		re := Prepare(e, o.Server)
		if !o.Filter.Match(&re) {
			return nil
		}
		switch {
		case re.Type.Has(mboxlist.FlagDeleted):
			want[re.Name] = tombstone
		case re.Primary().Server == "":
			want[re.Name] = serverless
		}
		return nil
	})
	res := &screenResult{shadowed: map[string]struct{}{}}
	if err != nil || len(want) == 0 {
		return res, err
	}
	check := func(cur *registry.Entry) {
		k, ok := want[cur.Name]
		if !ok || cur.Type.Has(mboxlist.FlagDeleted) {
			return // only live registry entries are protected
		}
		switch {
		case k == tombstone:
			res.shadowed[cur.Name] = struct{}{}
		case k == serverless && cur.Primary().Server != "":
			res.nrepl++
			if len(res.replaced) < maxExamples {
				res.replaced = append(res.replaced, fmt.Sprintf("%s (registry: %s)", cur.Name, cur.Primary()))
			}
		}
	}
	if len(want) <= screenGets {
		names := make([]string, 0, len(want))
		for n := range want {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			cur, err := store.Get(ctx, n)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			check(&cur)
		}
		return res, nil
	}
	_, err = store.List(ctx, o.Filter.ListPrefix(), func(e registry.Entry) error {
		check(&e)
		return nil
	})
	return res, err
}

// examples is the first few of names, with a count of the rest.
func examples(names []string, n int) string {
	s := strings.Join(names, ", ")
	if n > len(names) {
		s += fmt.Sprintf(", and %d more", n-len(names))
	}
	return s
}
