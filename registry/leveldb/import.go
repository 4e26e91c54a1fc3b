package leveldb

import (
	"bytes"
	"context"
	"errors"
	"sort"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/murderkit/murderkit/registry"
)

// Import implements registry.Store: the whole call is one leveldb batch.
func (s *Store) Import(ctx context.Context, entries []registry.Entry) (registry.ImportStats, error) {
	var st registry.ImportStats
	if err := s.check(ctx, "import", ""); err != nil {
		return st, err
	}
	entries = append([]registry.Entry(nil), entries...) // Prepare normalises; keep the caller's slice
	dbs := make([]string, len(entries))
	for i := range entries {
		if err := registry.Prepare(&entries[i]); err != nil {
			return st, registry.E("import", entries[i].Name, err)
		}
		dbs[i] = registry.DBName(entries[i].Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	oldE, err := s.lookupMany(pfxEntry, dbs)
	if err != nil {
		return registry.ImportStats{}, registry.E("import", "", err)
	}
	oldT, err := s.lookupMany(pfxTomb, dbs)
	if err != nil {
		return registry.ImportStats{}, registry.E("import", "", err)
	}
	if len(s.pending) > 0 {
		// Writes of groups not yet on disk count as present.
		for _, db := range dbs {
			for _, m := range []struct {
				pfx string
				out map[string][]byte
			}{{pfxEntry, oldE}, {pfxTomb, oldT}} {
				if pv, ok := s.pending[m.pfx+db]; ok {
					if pv.del {
						delete(m.out, db)
					} else {
						m.out[db] = pv.v
					}
				}
			}
		}
	}
	b := &batch{rev: s.next}
	b.b = *goleveldb.MakeBatch(len(entries) * 768)
	// Names repeated inside one call: the last one wins, as sequential
	// writes would give.
	pending := map[string]*registry.Entry{}
	var cmpA, cmpB []byte
	for i := range entries {
		e := entries[i]
		db := dbs[i]
		var oldp *registry.Entry
		if p, ok := pending[db]; ok {
			oldp = p
		} else if raw, ok := oldE[db]; ok {
			old, err := s.decodeEntry(raw, []byte(pfxEntry+db))
			if err != nil {
				return registry.ImportStats{}, registry.E("import", e.Name, err)
			}
			oldp = &old
		}
		if oldp != nil {
			// Compared in the compact form: an entry stored as JSON by an
			// older version is unchanged when its content is.
			e.Revision = oldp.Revision
			cmpA = registry.AppendEntryBinary(cmpA[:0], &e, true)
			cmpB = registry.AppendEntryBinary(cmpB[:0], oldp, true)
			if bytes.Equal(cmpA, cmpB) {
				st.Unchanged++
				continue
			}
			st.Updated++
		} else {
			st.Created++
		}
		_, hasTomb := oldT[db]
		delete(oldT, db)
		s.putEntry(b, &e, oldp, hasTomb)
		pending[db] = &e
	}
	if b.rev == s.next {
		return st, nil
	}
	if err := s.commitAlone(b); err != nil {
		return registry.ImportStats{}, registry.E("import", "", err)
	}
	return st, nil
}

// lookupMany returns the stored values of pfx+db for those dbs that exist.
// A batch from a sorted source covers a narrow key range: one iterator over
// it answers every name with a single seek (a fresh import finds it empty).
// When the range holds many other keys, the rest are looked up one by one.
func (s *Store) lookupMany(pfx string, dbs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(dbs) == 0 {
		return out, nil
	}
	sorted := append([]string(nil), dbs...)
	sort.Strings(sorted)
	want := make(map[string]bool, len(sorted))
	for _, d := range sorted {
		want[d] = true
	}
	it := s.db.NewIterator(&util.Range{Start: []byte(pfx + sorted[0]), Limit: []byte(pfx + sorted[len(sorted)-1] + "\x00")}, nil)
	budget := 2*len(sorted) + 64
	visited := 0
	complete := true
	for it.Next() {
		if visited++; visited > budget {
			complete = false
			break
		}
		db := string(it.Key()[len(pfx):])
		if want[db] {
			out[db] = append([]byte(nil), it.Value()...)
		}
	}
	err := it.Error()
	it.Release()
	if err != nil {
		return nil, registry.Unavailable(err)
	}
	if complete {
		return out, nil
	}
	for _, db := range sorted {
		if _, ok := out[db]; ok {
			continue
		}
		v, err := s.db.Get([]byte(pfx+db), nil)
		switch {
		case errors.Is(err, goleveldb.ErrNotFound):
		case err != nil:
			return nil, registry.Unavailable(err)
		default:
			out[db] = v
		}
	}
	return out, nil
}
