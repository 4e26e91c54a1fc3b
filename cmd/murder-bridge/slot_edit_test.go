package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

// TestSlotCorrectable: a slot defined wrongly can be seen (warning), edited
// and deleted while the old master is authoritative, and neither once the
// bridge is; redefining an existing slot is a refusal naming slot edit.
func TestSlotCorrectable(t *testing.T) {
	ctx := context.Background()
	st, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "r"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, e := range []registry.Entry{
		mbox("user.fred", 0, "fred", "lrswipkxtecdan"),
		mbox("user.jane", 0, "jane", "lrswipkxtecdan"),
	} {
		e.Locations = []registry.Location{{Server: "be1.example.com", Partition: "default"}}
		if e.Name == "user.jane" {
			e.Locations = []registry.Location{{Server: "be2.example.com", Partition: ""}} // `P ""`: location be2!
		}
		e.Normalize()
		if _, err := st.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	// a typo: be1.example (no mailbox there) is accepted with a warning
	if err := runSlotDefine(ctx, st, "be1", []string{"be1.example"}, "mirrored", "op", "", &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "warning: no mailbox in the registry is at be1.example (slot be1)") || !strings.Contains(errb.String(), "slot edit be1") {
		t.Errorf("define of a location without mailboxes warned %q", errb.String())
	}
	// redefining: refused (not a registry error), naming slot edit
	wantCode(t, runSlotDefine(ctx, st, "be1", []string{"be1.example.com"}, "mirrored", "op", "", &out, &errb), exitcode.Refused, "slot edit be1")
	// edit corrects it, with no warning now; the history records it
	errb.Reset()
	out.Reset()
	if err := runSlotEdit(ctx, st, "be1", []string{"be1.example.com"}, "op", "typo", &out, &errb); err != nil {
		t.Fatal(err)
	}
	if errb.Len() != 0 || !strings.Contains(out.String(), "locations be1.example -> be1.example.com, state mirrored") {
		t.Errorf("edit: stdout %q stderr %q", out.String(), errb.String())
	}
	s, _ := st.GetSlot(ctx, "be1")
	if len(s.Locations) != 1 || s.Locations[0].Server != "be1.example.com" || !strings.Contains(s.History[len(s.History)-1].Note, "be1.example -> be1.example.com") {
		t.Errorf("after edit: %+v", s)
	}
	// a server whose only mailbox has an empty partition matches too
	errb.Reset()
	if err := runSlotDefine(ctx, st, "be2", []string{"be2.example.com"}, "legacy", "op", "", &out, &errb); err != nil || errb.Len() != 0 {
		t.Errorf("define be2: %v, warned %q", err, errb.String())
	}
	// edit may not overlap another slot
	wantCode(t, runSlotEdit(ctx, st, "be2", []string{"be1.example.com!default"}, "op", "", &out, &errb), exitcode.Usage, "overlaps slot \"be1\"")
	// shadow-clean: an edit goes back to mirrored (the clean run did not cover the new locations)
	if _, err := recordShadowRun(ctx, st, "be1", true, "clean"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runSlotEdit(ctx, st, "be1", []string{"be1.example.com!default"}, "op", "", &out, &errb); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.GetSlot(ctx, "be1"); s.State != registry.SlotMirrored || !strings.Contains(out.String(), "run murder-bridge shadow") {
		t.Errorf("edit of a shadow-clean slot: state %s, said %q", s.State, out.String())
	}
	// cutover: the bridge is authoritative: no edit, no delete
	recordShadowRun(ctx, st, "be1", true, "clean")
	out.Reset()
	if err := runSlotCutover(ctx, st, "be1", nil, time.Minute, false, "op", "", &out); err != nil {
		t.Fatal(err)
	}
	// the cutover says what the operator must do next; it does not claim the backends moved
	if o := out.String(); !strings.Contains(o, "next: on each backend of be1.example.com!default set mupdate_server") || strings.Contains(o, "now send MUPDATE to the bridge") {
		t.Errorf("cutover said %q", o)
	}
	wantCode(t, runSlotEdit(ctx, st, "be1", []string{"be9"}, "op", "", &out, &errb), exitcode.Refused, "roll it back first")
	wantCode(t, runSlotDelete(ctx, st, "be1", &out), exitcode.Refused, "slot be1 is cutover")
	if _, err := st.GetSlot(ctx, "be1"); err != nil {
		t.Fatalf("a refused delete removed the slot: %v", err)
	}
	// after a rollback it can be deleted; the mailboxes stay
	if err := runSlotRollback(ctx, st, "be1", nil, "mirrored", false, "op", "", &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runSlotDelete(ctx, st, "be1", &out); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetSlot(ctx, "be1"); exitcode.Of(registryExit(err)) != exitcode.Registry {
		t.Errorf("deleted slot still there: %v", err)
	}
	if _, err := st.Get(ctx, "user.fred"); err != nil {
		t.Errorf("slot delete touched a mailbox: %v", err)
	}
	// and defined again
	if err := runSlotDefine(ctx, st, "be1", []string{"be1.example.com"}, "legacy", "op", "", &out, &errb); err != nil {
		t.Fatal(err)
	}
}

// TestSlotExitCodesThroughBridge runs the slot commands as an operator does
// (cobra, --bridge, --token-file) against a real bridge: a wrong token is an
// authentication failure (8), a refused cutover or rollback a refusal (10),
// each with its message; delete and edit go through the HTTP API.
func TestSlotExitCodesThroughBridge(t *testing.T) {
	dir := t.TempDir()
	reg := "leveldb://" + filepath.Join(dir, "reg")
	creds := writeFile(t, dir, "credentials", "murder:murderpw\n")
	token := writeFile(t, dir, "token", "right-token\n")
	wrong := writeFile(t, dir, "wrong", "wrong-token\n")
	httpA := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := serveOptions{registry: reg, listen: freeAddr(t), credentials: creds, http: httpA, httpTokenFile: token,
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, o) }()
	waitHTTP(t, "http://"+httpA+"/healthz")
	slot := func(args ...string) (string, string, error) {
		cmd := newSlotCommand()
		var out, errb bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		cmd.SetArgs(append(args, "--bridge", "http://"+httpA))
		err := cmd.ExecuteContext(ctx)
		return out.String(), errb.String(), err
	}
	if _, _, err := slot("define", "be1", "--location", "be1.example.com", "--state", "mirrored", "--token-file", wrong); exitcode.Of(err) != exitcode.Auth || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: exit %d (%v), want %d", exitcode.Of(err), err, exitcode.Auth)
	}
	_, stderr, err := slot("define", "be1", "--location", "be1.example.com", "--state", "mirrored", "--token-file", token)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "warning") {
		t.Errorf("define through the bridge warned nothing (want: no mailbox, or could not check): %q", stderr)
	}
	if _, _, err := slot("define", "be1", "--location", "be1.example.com", "--token-file", token); exitcode.Of(err) != exitcode.Refused {
		t.Errorf("redefine: exit %d (%v), want %d", exitcode.Of(err), err, exitcode.Refused)
	}
	if _, _, err := slot("cutover", "be1", "--token-file", token); exitcode.Of(err) != exitcode.Refused || !strings.Contains(err.Error(), "not clean") {
		t.Errorf("cutover of a mirrored slot: exit %d (%v), want %d", exitcode.Of(err), err, exitcode.Refused)
	}
	if _, _, err := slot("rollback", "be1", "--to", "shadow-clean", "--token-file", token); exitcode.Of(err) != exitcode.Refused {
		t.Errorf("rollback forward: exit %d (%v), want %d", exitcode.Of(err), err, exitcode.Refused)
	}
	if _, _, err := slot("edit", "be1", "--location", "be1.example.net", "--token-file", token); err != nil {
		t.Errorf("edit through the bridge: %v", err)
	}
	if _, _, err := slot("delete", "be1", "--token-file", wrong); exitcode.Of(err) != exitcode.Auth {
		t.Errorf("delete with a wrong token: exit %d (%v)", exitcode.Of(err), err)
	}
	out, _, err := slot("delete", "be1", "--token-file", token)
	if err != nil || !strings.Contains(out, "slot be1 deleted") {
		t.Errorf("delete through the bridge: %v %q", err, out)
	}
	out, _, _ = slot("list", "--token-file", token)
	if strings.Contains(out, "be1") {
		t.Errorf("deleted slot still listed:\n%s", out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve = %v", err)
	}
}
