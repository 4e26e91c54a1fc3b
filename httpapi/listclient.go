package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/murderkit/murderkit/registry"
)

// listIdle bounds how long a /v1/mailboxes stream may stay silent.
const listIdle = 2 * time.Minute

// List implements registry.Reader through GET /v1/mailboxes: every entry
// named prefix or below (Cyrus's tombstones included), in Cyrus order,
// from one snapshot of the bridge's registry; it returns the snapshot's
// revision. The stream is read line by line (bounded memory); a stream
// without its end line is an error, never a shorter list.
func (c *Client) List(ctx context.Context, prefix string, fn func(registry.Entry) error) (int64, error) {
	return c.list(ctx, url.Values{"prefix": {prefix}}, fn)
}

// ListSlot lists the entries whose preferred primary location slot covers
// (GET /v1/mailboxes?slot=), as List does.
func (c *Client) ListSlot(ctx context.Context, slot string, fn func(registry.Entry) error) (int64, error) {
	return c.list(ctx, url.Values{"slot": {slot}}, fn)
}

func (c *Client) list(ctx context.Context, q url.Values, fn func(registry.Entry) error) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(listIdle, func() {
		cancel(fmt.Errorf("the bridge sent nothing for %s", listIdle))
	})
	defer idle.Stop()
	resp, err := c.get(ctx, "list", "/v1/mailboxes", q)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 256<<10)
	var line []byte
	n := 0
	for {
		line = line[:0]
		for {
			part, err := br.ReadSlice('\n')
			line = append(line, part...)
			if err == nil {
				break
			}
			if errors.Is(err, bufio.ErrBufferFull) && len(line) < listLineMax {
				continue
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the stream ended without its end line (cut short)")
			} else if errors.Is(err, bufio.ErrBufferFull) {
				err = fmt.Errorf("a line longer than %d bytes", listLineMax)
			}
			if cerr := context.Cause(ctx); cerr != nil {
				err = cerr
			}
			return 0, registry.E("list", "", registry.Unavailable(fmt.Errorf("bridge %s, after %d entries: %w", c.base, n, err)))
		}
		idle.Reset(listIdle)
		line = bytes.TrimRight(line, "\n")
		if inner, ok := bytes.CutPrefix(line, []byte(`{"entry":`)); ok && bytes.HasSuffix(inner, []byte("}")) {
			e, err := registry.DecodeEntry(inner[:len(inner)-1], fmt.Sprintf("the bridge's entry %d", n+1))
			if err != nil {
				return 0, registry.E("list", "", registry.Unavailable(err))
			}
			n++
			if err := fn(e); err != nil {
				return 0, err
			}
			continue
		}
		var end struct {
			ListEnd
			Error string `json:"error"`
		}
		if err := json.Unmarshal(line, &end); err != nil {
			return 0, registry.E("list", "", registry.Unavailable(fmt.Errorf("bad line %d from the bridge: %v", n+1, err)))
		}
		switch {
		case end.Error != "":
			return 0, registry.E("list", "", registry.Unavailable(fmt.Errorf("the bridge's listing failed after %d entries: %s", n, end.Error)))
		case end.End && end.Count == n:
			return end.Revision, nil
		case end.End:
			return 0, registry.E("list", "", registry.Unavailable(fmt.Errorf("the bridge says it sent %d entries, %d arrived", end.Count, n)))
		}
		return 0, registry.E("list", "", registry.Unavailable(fmt.Errorf("unexpected line %d from the bridge: %.80q", n+1, line)))
	}
}

// Count implements registry.Reader (GET /v1/mailboxes?count=1).
func (c *Client) Count(ctx context.Context, prefix string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := c.get(ctx, "count", "/v1/mailboxes", url.Values{"prefix": {prefix}, "count": {"1"}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var a CountAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return 0, registry.E("count", "", registry.Unavailable(fmt.Errorf("bad answer from the bridge: %v", err)))
	}
	return a.Count, nil
}

// get starts a GET whose body the caller reads (a stream: no overall
// timeout, the caller's context ends it); the bearer token goes with it.
// A non-2xx answer is returned as an error, as do returns it.
func (c *Client) get(ctx context.Context, op, path string, q url.Values) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, registry.E(op, "", fmt.Errorf("%v: %w", err, registry.ErrInvalid))
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := &http.Client{Transport: c.hc.Transport} // no Timeout: the stream may be long
	resp, err := hc.Do(req)
	if err != nil {
		return nil, registry.E(op, "", registry.Unavailable(err))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb ErrorBody
	json.Unmarshal(b, &eb)
	msg := eb.Error
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	sentinel := registry.ErrUnavailable
	switch resp.StatusCode {
	case http.StatusNotFound:
		sentinel = registry.ErrNotFound
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		sentinel = registry.ErrInvalid
	}
	return nil, registry.E(op, "", fmt.Errorf("bridge answered %s: %s: %w", resp.Status, msg, sentinel))
}
