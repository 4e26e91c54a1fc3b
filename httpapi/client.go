package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/murderkit/murderkit/registry"
)

// ErrUnauthorized: the bridge refused the request's bearer token (401/403).
// It is registry.ErrUnauthorized, so that callers that only know the
// registry (mboxconv) classify it too.
var ErrUnauthorized = registry.ErrUnauthorized

// Client reaches a running bridge's registry through its HTTP API: what the
// CLI uses with --bridge URL while the bridge owns a leveldb registry. It
// implements the roles the API offers, all with the bridge's bearer token:
// registry.Reader (Get, GetTombstone, List, Count, Visible, Revision) and
// registry.SlotStore. It is not a registry.Store: the API offers no entry
// writes, Import, Watch or GCTombstones, so a caller that needs them does
// not compile with a Client.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

var (
	_ registry.Reader    = (*Client)(nil)
	_ registry.SlotStore = (*Client)(nil)
)

// NewClient returns a client for the bridge at rawURL (http://127.0.0.1:8405).
// token is the bridge's bearer token (its --http-token-file), which every
// registry read and write needs.
func NewClient(rawURL, token string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &registry.Error{Op: "open", Err: fmt.Errorf("bad bridge URL %q (want http://HOST:PORT): %w", rawURL, registry.ErrInvalid)}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return &Client{base: u, token: token, hc: &http.Client{Timeout: 2 * time.Minute}}, nil
}

// do sends a request and decodes a 2xx JSON answer into out; other answers
// become registry errors with the server's message.
func (c *Client) do(ctx context.Context, op, name, method, path string, q url.Values, body, out any) error {
	u := *c.base
	u.Path += path
	u.RawPath = ""
	if name != "" && strings.HasSuffix(path, "/"+url.PathEscape(name)) {
		// keep the name as one path segment, escaped once
		u.Path = c.base.Path + strings.TrimSuffix(path, url.PathEscape(name)) + name
		u.RawPath = c.base.EscapedPath() + path
	}
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return registry.E(op, name, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return registry.E(op, name, fmt.Errorf("%v: %w", err, registry.ErrInvalid))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return registry.E(op, name, registry.Unavailable(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return registry.E(op, name, registry.Unavailable(err))
	}
	if resp.StatusCode/100 == 2 {
		if out == nil || resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return registry.E(op, name, registry.Unavailable(fmt.Errorf("bad answer from the bridge: %v", err)))
		}
		return nil
	}
	var eb ErrorBody
	json.Unmarshal(b, &eb)
	msg := eb.Error
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	if out, ok := out.(*ErrorBody); ok {
		*out = eb
	}
	var sentinel error
	switch resp.StatusCode {
	case http.StatusNotFound:
		sentinel = registry.ErrNotFound
	case http.StatusBadRequest:
		sentinel = registry.ErrInvalid
	case http.StatusConflict:
		sentinel = registry.ErrConflict
	case http.StatusUnauthorized, http.StatusForbidden:
		// ErrInvalid for callers that only know registry errors;
		// ErrUnauthorized says the token was the problem.
		return registry.E(op, name, fmt.Errorf("bridge answered %s: %s (check the token file): %w %w", resp.Status, msg, ErrUnauthorized, registry.ErrInvalid))
	default:
		sentinel = registry.ErrUnavailable
	}
	return registry.E(op, name, fmt.Errorf("bridge answered %s: %s: %w", resp.Status, msg, sentinel))
}

// Get implements registry.Reader.
func (c *Client) Get(ctx context.Context, name string) (registry.Entry, error) {
	var e registry.Entry
	err := c.do(ctx, "get", name, http.MethodGet, "/v1/mailboxes/"+url.PathEscape(name), nil, nil, &e)
	return e, err
}

// GetTombstone implements registry.Reader (from the 404 answer of a deleted
// mailbox).
func (c *Client) GetTombstone(ctx context.Context, name string) (registry.Tombstone, error) {
	var eb ErrorBody
	err := c.do(ctx, "tombstone", name, http.MethodGet, "/v1/mailboxes/"+url.PathEscape(name), nil, nil, &eb)
	if err == nil {
		return registry.Tombstone{}, registry.E("tombstone", name, registry.ErrNotFound) // live
	}
	if errors.Is(err, registry.ErrNotFound) && eb.Tombstone != nil {
		return *eb.Tombstone, nil
	}
	return registry.Tombstone{}, err
}

// Visible implements registry.Reader.
func (c *Client) Visible(ctx context.Context, userid string, groups []string) ([]string, error) {
	var a VisibleAnswer
	err := c.do(ctx, "visible", userid, http.MethodGet, "/v1/visible", url.Values{"user": {userid}, "group": groups}, nil, &a)
	return a.Names, err
}

// Revision implements registry.Reader.
func (c *Client) Revision(ctx context.Context) (int64, error) {
	var rd Readiness
	err := c.do(ctx, "revision", "", http.MethodGet, "/v1/status", nil, nil, &rd)
	return rd.Revision, err
}

// Status returns the bridge's /v1/status.
func (c *Client) Status(ctx context.Context) (Readiness, error) {
	var rd Readiness
	err := c.do(ctx, "status", "", http.MethodGet, "/v1/status", nil, nil, &rd)
	return rd, err
}

// GetSlot implements registry.SlotStore.
func (c *Client) GetSlot(ctx context.Context, name string) (registry.Slot, error) {
	var s registry.Slot
	err := c.do(ctx, "get_slot", name, http.MethodGet, "/v1/slots/"+url.PathEscape(name), nil, nil, &s)
	return s, err
}

// ListSlots implements registry.SlotStore.
func (c *Client) ListSlots(ctx context.Context) ([]registry.Slot, error) {
	var s []registry.Slot
	err := c.do(ctx, "list_slots", "", http.MethodGet, "/v1/slots", nil, nil, &s)
	return s, err
}

// CreateSlot implements registry.SlotStore (needs the token).
func (c *Client) CreateSlot(ctx context.Context, s registry.Slot) (registry.Slot, error) {
	var out registry.Slot
	err := c.do(ctx, "create_slot", s.Name, http.MethodPost, "/v1/slots", nil, s, &out)
	return out, err
}

// UpdateSlot implements registry.SlotStore (needs the token).
func (c *Client) UpdateSlot(ctx context.Context, s registry.Slot) (registry.Slot, error) {
	var out registry.Slot
	err := c.do(ctx, "update_slot", s.Name, http.MethodPut, "/v1/slots/"+url.PathEscape(s.Name), nil, s, &out)
	return out, err
}

// DeleteSlot implements registry.SlotStore (needs the token).
func (c *Client) DeleteSlot(ctx context.Context, name string, rev int64) error {
	return c.do(ctx, "delete_slot", name, http.MethodDelete, "/v1/slots/"+url.PathEscape(name),
		url.Values{"revision": {strconv.FormatInt(rev, 10)}}, nil, nil)
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}
