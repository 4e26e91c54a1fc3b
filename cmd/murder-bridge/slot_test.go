package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/cutover"
	"github.com/murderkit/murderkit/follow"
	"github.com/murderkit/murderkit/httpapi"
	"github.com/murderkit/murderkit/internal/exitcode"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
)

func wantCode(t *testing.T, err error, code int, sub string) {
	t.Helper()
	var ee *exitcode.Error
	if !errors.As(err, &ee) || ee.Code != code || !strings.Contains(err.Error(), sub) {
		t.Fatalf("err = %v, want exit %d containing %q", err, code, sub)
	}
}

func TestSlotLifecycle(t *testing.T) {
	ctx := context.Background()
	st, err := leveldb.Open(ctx, filepath.Join(t.TempDir(), "r"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out bytes.Buffer
	if err := runSlotDefine(ctx, st, "s1", []string{"be1"}, "mirrored", "op", "", &out, &out); err != nil {
		t.Fatal(err)
	}
	wantCode(t, runSlotDefine(ctx, st, "s2", []string{"be1!p2"}, "legacy", "op", "", &out, &out), exitcode.Usage, "overlaps slot \"s1\"")
	wantCode(t, runSlotDefine(ctx, st, "s2", nil, "legacy", "op", "", &out, &out), exitcode.Usage, "--location")
	wantCode(t, runSlotDefine(ctx, st, "s2", []string{"be2"}, "cutover", "op", "", &out, &out), exitcode.Usage, "legacy or mirrored")
	if err := runSlotDefine(ctx, st, "s2", []string{"be2!default", "be3"}, "legacy", "op", "", &out, &out); err != nil {
		t.Fatal(err)
	}

	// not shadow-clean: refused with the reason
	wantCode(t, runSlotCutover(ctx, st, "s1", nil, time.Minute, false, "op", "", &out), exitcode.Refused, "last shadow run of slot s1 was not clean")
	// a clean shadow run moves it to shadow-clean
	if s, err := recordShadowRun(ctx, st, "s1", true, "clean"); err != nil || s.State != registry.SlotShadowClean {
		t.Fatalf("recordShadowRun = %v %v", s.State, err)
	}
	// follow lag high: refused
	status := func(lag time.Duration, synced bool) func(context.Context) (httpapi.Readiness, error) {
		return func(context.Context) (httpapi.Readiness, error) {
			return httpapi.Readiness{Follow: &follow.Status{Master: "m:3905", Connected: true, Synced: synced, Lag: lag}}, nil
		}
	}
	wantCode(t, runSlotCutover(ctx, st, "s1", status(2*time.Minute, true), time.Minute, false, "op", "", &out), exitcode.Refused, "follow lag is high")
	wantCode(t, runSlotCutover(ctx, st, "s1", status(time.Second, false), time.Minute, false, "op", "", &out), exitcode.Refused, "not synchronised")
	// a dirty shadow run moves it back
	if s, _ := recordShadowRun(ctx, st, "s1", false, "3 differ"); s.State != registry.SlotMirrored {
		t.Fatalf("after a dirty run: %s", s.State)
	}
	recordShadowRun(ctx, st, "s1", true, "clean")
	out.Reset()
	if err := runSlotCutover(ctx, st, "s1", status(time.Second, true), time.Minute, false, "op", "chg 1", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "shadow-clean -> cutover") {
		t.Errorf("cutover said %q", out.String())
	}
	wantCode(t, runSlotCutover(ctx, st, "s1", nil, time.Minute, true, "op", "", &out), exitcode.Refused, "already cutover")
	// forced cutover of a legacy slot is recorded as forced
	if err := runSlotCutover(ctx, st, "s2", nil, time.Minute, true, "op", "", &out); err != nil {
		t.Fatal(err)
	}
	s2, _ := st.GetSlot(ctx, "s2")
	if h := s2.History[len(s2.History)-1]; s2.State != registry.SlotCutover || !strings.Contains(h.Note, "forced") || h.From != registry.SlotLegacy {
		t.Errorf("forced cutover: %+v", s2)
	}
	// retire: only from cutover; then no rollback
	if err := runSlotRetire(ctx, st, "s2", "op", "", &out); err != nil {
		t.Fatal(err)
	}
	wantCode(t, runSlotRollback(ctx, st, "s2", nil, "mirrored", false, "op", "", &out), exitcode.Refused, "never from retired")
	// rollback goes back only
	if err := runSlotDefine(ctx, st, "s3", []string{"be9"}, "legacy", "op", "", &out, &out); err != nil {
		t.Fatal(err)
	}
	wantCode(t, runSlotRollback(ctx, st, "s3", nil, "mirrored", false, "op", "", &out), exitcode.Refused, "refusing to roll slot s3 back from legacy to mirrored")
	// rollback
	wantCode(t, runSlotRollback(ctx, st, "s1", nil, "retired", false, "op", "", &out), exitcode.Refused, "refusing to roll slot s1 back")
	// changes still queued for the old master block a rollback
	queued := func(n int) func(context.Context) (httpapi.Readiness, error) {
		return func(context.Context) (httpapi.Readiness, error) {
			return httpapi.Readiness{Ready: true, WriteThrough: &cutover.Status{Queued: n, LastError: "master down"}}, nil
		}
	}
	wantCode(t, runSlotRollback(ctx, st, "s1", queued(3), "mirrored", false, "op", "", &out), exitcode.Refused, "3 change(s) are still queued")
	if s, _ := st.GetSlot(ctx, "s1"); s.State != registry.SlotCutover {
		t.Fatalf("a refused rollback changed the slot to %s", s.State)
	}
	if err := runSlotRollback(ctx, st, "s1", queued(0), "mirrored", false, "op", "rehearsal", &out); err != nil {
		t.Fatal(err)
	}
	s1, _ := st.GetSlot(ctx, "s1")
	var seq []string
	for _, h := range s1.History {
		seq = append(seq, string(h.To))
	}
	if got := strings.Join(seq, ","); got != "mirrored,shadow-clean,mirrored,shadow-clean,cutover,mirrored" {
		t.Errorf("history %s", got)
	}
	wantCode(t, runSlotRetire(ctx, st, "s1", "op", "", &out), exitcode.Refused, "it is mirrored, not cutover")
	out.Reset()
	if err := runSlotList(ctx, st, false, &out); err != nil || !strings.Contains(out.String(), "s1    mirrored") || !strings.Contains(out.String(), "be2!default,be3") {
		t.Errorf("list: %v\n%s", err, out.String())
	}
}
