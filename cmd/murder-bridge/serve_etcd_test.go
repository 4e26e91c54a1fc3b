package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/eventually"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
)

// Three bridges, each with an embedded etcd member (--etcd-member), form one
// registry: a write through one is found through another and streamed to
// an UPDATE client of the third.
func TestServeThreeEmbeddedMembers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := t.TempDir()
	creds := filepath.Join(d, "credentials")
	os.WriteFile(creds, []byte("murder:murderpw\n"), 0o600)
	names := []string{"a", "b", "c"}
	var peers, clients, listens []string
	for i := range names {
		peers = append(peers, "http://"+strings.Replace(freeAddr(t), "127.0.0.1", fmt.Sprintf("127.0.0.%d", i+1), 1))
		clients = append(clients, "http://"+freeAddr(t))
		listens = append(listens, freeAddr(t))
	}
	var initial []string
	for i, n := range names {
		initial = append(initial, n+"="+peers[i])
	}
	done := make(chan error, 3)
	for i, n := range names {
		o := serveOptions{dataDir: filepath.Join(d, n), listen: listens[i], credentials: creds,
			etcdMember: n, etcdPeerURL: peers[i], etcdClientURL: clients[i], etcdInitialCluster: strings.Join(initial, ","),
			etcdPrefix: "/murder", logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		go func() { done <- runServe(ctx, o) }()
	}
	dial := func(addr string) *mupdateclient.Client {
		t.Helper()
		var c *mupdateclient.Client
		if err := eventually.Wait(30*time.Second, func() (err error) {
			c, err = mupdateclient.Dial(ctx, addr, nil)
			return err
		}); err != nil {
			t.Fatalf("bridge %s never answered: %v", addr, err)
		}
		if err := c.Authenticate(ctx, "murder", "murderpw", "PLAIN"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	cc := dial(listens[2])
	defer cc.Close()
	got := make(chan mupdate.Mailbox, 16)
	synced := make(chan struct{})
	go cc.Update(ctx, nil, func(ev mupdateclient.Event) error {
		switch ev.Type {
		case mupdateclient.EventSynced:
			close(synced)
		case mupdateclient.EventMailbox:
			got <- ev.Mailbox
		}
		return nil
	})
	<-synced
	ca := dial(listens[0])
	defer ca.Close()
	if err := ca.Reserve(ctx, "user.fred", "be1!default"); err != nil {
		t.Fatal(err)
	}
	if err := ca.Activate(ctx, "user.fred", "be1!default", "fred\tlrswipkxtecdan\t"); err != nil {
		t.Fatal(err)
	}
	cb := dial(listens[1])
	defer cb.Close()
	m, ok, err := cb.Find(ctx, "user.fred")
	if err != nil || !ok || m.Location != "be1!default" || m.State != mupdate.Active {
		t.Errorf("FIND through bridge b = %+v %v %v", m, ok, err)
	}
	if err := cb.Reserve(ctx, "user.fred", "be2!default"); err == nil {
		t.Error("a conflicting RESERVE through another bridge was accepted")
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case mb := <-got:
			if mb.Name == "user.fred" && mb.State == mupdate.Active {
				cancel()
				for range names {
					if err := <-done; err != nil {
						t.Errorf("serve = %v", err)
					}
				}
				return
			}
		case <-timeout:
			t.Fatal("bridge c's UPDATE client never saw user.fred")
		}
	}
}
