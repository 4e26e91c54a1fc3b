package registrytest

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
)

// NewStore returns an empty store for one test; the suite closes it.
type NewStore func(t *testing.T) registry.Store

// Trials is the number of two-creator trials: MURDERKIT_TRIALS, or def.
func Trials(def int) int {
	if n, err := strconv.Atoi(os.Getenv("MURDERKIT_TRIALS")); err == nil && n > 0 {
		return n
	}
	return def
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, newStore NewStore) registry.Store {
	s := newStore(t)
	t.Cleanup(func() { s.Close() })
	return s
}

// Mailbox builds an email mailbox entry at server!partition with an ACL given
// as alternating identifier, rights.
func Mailbox(name, server, partition string, acl ...string) registry.Entry {
	e := registry.Entry{}
	e.Name, e.Server, e.Partition = name, server, partition
	e.ACL = mboxlist.ACL{}
	for i := 0; i+1 < len(acl); i += 2 {
		e.ACL = append(e.ACL, mboxlist.ACLItem{ID: acl[i], Rights: acl[i+1]})
	}
	return e
}

func mustCreate(t *testing.T, s registry.Store, e registry.Entry) registry.Entry {
	t.Helper()
	got, err := s.Create(ctxT(t), e)
	if err != nil {
		t.Fatalf("Create(%s) = %v", e.Name, err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s error = %v, want %v", what, err, want)
	}
	var re *registry.Error
	if !errors.As(err, &re) {
		t.Fatalf("%s error %v is not a *registry.Error", what, err)
	}
}

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	t.Run("CreateGetUpdateDelete", func(t *testing.T) { testCRUD(t, open(t, newStore)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t, newStore)) })
	t.Run("Tombstones", func(t *testing.T) { testTombstones(t, open(t, newStore)) })
	t.Run("PutMovesLocation", func(t *testing.T) { testPut(t, open(t, newStore)) })
	t.Run("InvalidNames", func(t *testing.T) { testInvalid(t, open(t, newStore)) })
	t.Run("ListPrefixOrder", func(t *testing.T) { testList(t, open(t, newStore)) })
	t.Run("Visible", func(t *testing.T) { testVisible(t, open(t, newStore)) })
	t.Run("VisibleFollowsChanges", func(t *testing.T) { testVisibleChanges(t, open(t, newStore)) })
	t.Run("Import", func(t *testing.T) { testImport(t, open(t, newStore)) })
	t.Run("WatchAfterSnapshot", func(t *testing.T) { testWatch(t, open(t, newStore)) })
	t.Run("WatchConcurrentWriters", func(t *testing.T) { testWatchConcurrent(t, open(t, newStore)) })
	t.Run("WatchPrev", func(t *testing.T) { testWatchPrev(t, open(t, newStore)) })
	t.Run("WatchProgress", func(t *testing.T) { testWatchProgress(t, open(t, newStore)) })
	t.Run("Slots", func(t *testing.T) { testSlots(t, open(t, newStore)) })
	t.Run("GCTombstones", func(t *testing.T) { testGC(t, open(t, newStore)) })
	t.Run("CreateTrials", func(t *testing.T) { RunCreateTrials(t, open(t, newStore), Trials(10)) })
}
