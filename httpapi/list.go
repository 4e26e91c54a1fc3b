package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/murderkit/murderkit/registry"
)

// GET /v1/mailboxes streams the registry's entries — every entry the
// store lists, Cyrus's tombstones (mbtype d) included — in Cyrus order
// from one snapshot, as NDJSON (application/x-ndjson), one line each:
//
//	{"entry":E}                          an entry; E is the registry's own
//	                                     stored form (registry.EncodeEntry,
//	                                     with its revision): every field,
//	                                     absent and empty told apart
//	{"end":true,"count":N,"revision":R}  the last line: N entries were
//	                                     sent, R is the snapshot's revision
//	{"error":"..."}                      the listing failed after the
//	                                     answer began; nothing follows
//
// A stream without its end line was cut and must not be taken for the
// whole list. Parameters: prefix=NAME (hierarchy-aware, as Store.List:
// NAME and the names below it), slot=S (only entries whose preferred
// primary location slot S covers), count=1 (no entries: one JSON object
// {"count":N,"revision":R}, Store.Count's answer). The server holds one
// entry at a time; the client reads line by line: memory stays bounded
// whatever the registry's size. It reads every name and ACL: when the
// bridge has a --http-token-file, the request needs its bearer token.

// ListEnd is the last line of a /v1/mailboxes stream.
type ListEnd struct {
	End      bool  `json:"end"`
	Count    int   `json:"count"`
	Revision int64 `json:"revision"`
}

// CountAnswer is /v1/mailboxes?count=1's JSON body.
type CountAnswer struct {
	Count    int   `json:"count"`
	Revision int64 `json:"revision"`
}

// listLineMax bounds one line of the stream (an entry with a large ACL and
// history is a few kB; Cyrus names are at most 490 bytes).
const listLineMax = 16 << 20

func (s *Server) listMailboxes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prefix := q.Get("prefix")
	if len(prefix) > maxName {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("prefix of %d bytes is longer than %d", len(prefix), maxName))
		return
	}
	ctx := r.Context()
	if q.Get("count") == "1" {
		rev, err := s.cfg.Store.Revision(ctx)
		if err != nil {
			s.registryError(w, "count", err)
			return
		}
		n, err := s.cfg.Store.Count(ctx, prefix)
		if err != nil {
			s.registryError(w, "count", err)
			return
		}
		writeJSON(w, http.StatusOK, CountAnswer{Count: n, Revision: rev})
		return
	}
	var slot *registry.Slot
	if name := q.Get("slot"); name != "" {
		sl, err := s.cfg.Store.GetSlot(ctx, name)
		if err != nil {
			s.registryError(w, "slot", err)
			return
		}
		slot = &sl
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	var line []byte
	extend := func() { rc.SetWriteDeadline(time.Now().Add(2 * time.Minute)) } // a long stream outlives the server's WriteTimeout
	extend()
	rev, err := s.cfg.Store.List(ctx, prefix, func(e registry.Entry) error {
		if slot != nil && !slot.Contains(e.Primary()) {
			return nil
		}
		line = append(line[:0], `{"entry":`...)
		line = append(line, registry.EncodeEntry(&e, true)...)
		line = append(line, "}\n"...)
		if _, err := bw.Write(line); err != nil {
			return errClientGone
		}
		if n++; n%4096 == 0 {
			extend()
		}
		return nil
	})
	if errors.Is(err, errClientGone) {
		return
	}
	if err != nil {
		s.cfg.Metrics.RegistryError("list")
		s.log.Error("httpapi: listing failed", "err", err)
		b, _ := json.Marshal(ErrorBody{Error: err.Error()})
		bw.Write(append(b, '\n'))
		bw.Flush()
		return
	}
	b, _ := json.Marshal(ListEnd{End: true, Count: n, Revision: rev})
	bw.Write(append(b, '\n'))
	bw.Flush()
}

var errClientGone = errors.New("httpapi: client went away")
