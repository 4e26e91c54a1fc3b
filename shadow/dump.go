package shadow

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// ReadDump reads a Cyrus 3.6 `ctl_mboxlist -d` JSON dump (one object, keys
// the internal names) into the fields visibility depends on, sorted by
// name.
func ReadDump(r io.Reader) ([]DumpEntry, error) {
	var raw map[string]struct {
		MBType string            `json:"mbtype"`
		ACL    map[string]string `json:"acl"`
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		if ok := asSyntax(err, &se); ok {
			return nil, fmt.Errorf("shadow: dump: offset %d (%#x): %v", se.Offset, se.Offset, err)
		}
		return nil, fmt.Errorf("shadow: dump: %w", err)
	}
	out := make([]DumpEntry, 0, len(raw))
	for name, v := range raw {
		out = append(out, DumpEntry{Name: name, MBType: v.MBType, ACL: v.ACL})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func asSyntax(err error, se **json.SyntaxError) bool {
	s, ok := err.(*json.SyntaxError)
	if ok {
		*se = s
	}
	return ok
}
