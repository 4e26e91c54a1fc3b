package mupdateclient

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/xdg-go/scram"

	"github.com/murderkit/murderkit/mupdate/internal/wire"
)

// preference is the order in which Authenticate picks a mechanism when
// none is forced (as a Cyrus client would: strongest first).
var preference = []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}

// Authenticate logs in as user. mech "" picks the strongest offered
// mechanism we support (SCRAM-SHA-512, -256, -1, then PLAIN). It sends
// `A01 AUTHENTICATE "MECH" {n+}` with the initial response, as Cyrus does.
func (c *Client) Authenticate(ctx context.Context, user, password, mech string) error {
	done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if mech == "" {
		for _, m := range preference {
			if slices.Contains(c.banner.Mechanisms, m) {
				mech = m
				break
			}
		}
		if mech == "" {
			return fmt.Errorf("mupdateclient: no supported SASL mechanism in %q", c.banner.Mechanisms)
		}
	}
	mech = strings.ToUpper(mech)
	tag := "A01"
	var step func(challenge []byte) ([]byte, error)
	var first []byte
	switch mech {
	case "PLAIN":
		first = []byte("\x00" + user + "\x00" + password)
	case "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512":
		hf := map[string]scram.HashGeneratorFcn{"SCRAM-SHA-1": scram.SHA1, "SCRAM-SHA-256": scram.SHA256, "SCRAM-SHA-512": scram.SHA512}[mech]
		sc, err := hf.NewClient(user, password, "")
		if err != nil {
			return fmt.Errorf("mupdateclient: %w", err)
		}
		conv := sc.NewConversation()
		s, err := conv.Step("")
		if err != nil {
			return fmt.Errorf("mupdateclient: %w", err)
		}
		first = []byte(s)
		step = func(ch []byte) ([]byte, error) {
			if conv.Done() {
				if !conv.Valid() {
					return nil, errors.New("mupdateclient: server signature did not verify")
				}
				return nil, nil
			}
			r, err := conv.Step(string(ch))
			if err != nil {
				return nil, fmt.Errorf("mupdateclient: SCRAM: %w", err)
			}
			if conv.Done() { // ch was the server-final message
				if !conv.Valid() {
					return nil, errors.New("mupdateclient: server signature did not verify")
				}
				return nil, nil
			}
			return []byte(r), nil
		}
	default:
		return fmt.Errorf("mupdateclient: unsupported mechanism %s", mech)
	}
	if err := c.send(func(e *wire.Encoder) {
		e.Line(tag + ` AUTHENTICATE "` + mech + `" {` + strconv.Itoa(len(base64.StdEncoding.EncodeToString(first))) + "+}")
		e.Line(base64.StdEncoding.EncodeToString(first))
	}); err != nil {
		return err
	}
	// Cyrus's client: a line starting "A01 OK"/"A01 NO" ends the exchange;
	// anything else is a base64 challenge.
	for {
		line, err := c.dec.ReadLine()
		if err != nil {
			return fmt.Errorf("mupdateclient: %w", err)
		}
		if strings.HasPrefix(line, tag+" OK") {
			return nil
		}
		if strings.HasPrefix(line, tag+" NO") || strings.HasPrefix(line, tag+" BAD") {
			kind, text, _ := strings.Cut(strings.TrimPrefix(line, tag+" "), " ")
			return &StatusError{Kind: kind, Text: strings.Trim(text, `"`)}
		}
		if step == nil {
			return &wire.ProtocolError{Line: line, Msg: "unexpected challenge for " + mech}
		}
		ch, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return &wire.ProtocolError{Line: line, Msg: "bad base64 challenge"}
		}
		resp, err := step(ch)
		if err != nil {
			c.send(func(e *wire.Encoder) { e.Line("*") })
			return err
		}
		if err := c.send(func(e *wire.Encoder) { e.Line(base64.StdEncoding.EncodeToString(resp)) }); err != nil {
			return err
		}
	}
}
