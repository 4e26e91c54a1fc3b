package shadow_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/cyrusimapd"
	"github.com/murderkit/murderkit/mboxlist"
	"github.com/murderkit/murderkit/registry"
	"github.com/murderkit/murderkit/registry/leveldb"
	"github.com/murderkit/murderkit/shadow"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchBase() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}

// benchDump writes a Cyrus 3.6 JSON dump of users u0..u<users-1>, each with
// folders personal folders and one folder shared with the next user, plus
// shared folders open to anyone; it returns the dump and its entry count.
func benchDump(users, folders, shared int) ([]byte, int) {
	var b bytes.Buffer
	n := 0
	b.WriteString("{\n")
	add := func(name, acl string) {
		if n > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "%q: {\"mbtype\": \"e\", \"partition\": \"default\", \"acl\": {%s}, \"uniqueid\": \"u%d\", \"uidvalidity\": \"1\"}", name, acl, n)
		n++
	}
	for i := 0; i < shared; i++ {
		add(fmt.Sprintf("shared.f%d", i), `"anyone": "lrs"`)
	}
	for u := 0; u < users; u++ {
		own := fmt.Sprintf(`"u%d": "lrswipkxtecdan"`, u)
		add(fmt.Sprintf("user.u%d", u), own)
		for f := 0; f < folders; f++ {
			add(fmt.Sprintf("user.u%d.f%d", u, f), own)
		}
		add(fmt.Sprintf("user.u%d.forNext", u), own+fmt.Sprintf(`, "u%d": "lr"`, (u+1)%users))
	}
	b.WriteString("\n}\n")
	return b.Bytes(), n
}

func loadRegistry(b *testing.B, dump []byte) registry.Store {
	b.Helper()
	ctx := context.Background()
	st, err := leveldb.Open(ctx, b.TempDir(), &leveldb.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	dec := mboxlist.NewJSONDecoder(bytes.NewReader(dump))
	batch := make([]registry.Entry, 0, 4096)
	flush := func() {
		if _, err := st.Import(ctx, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for dec.Next() {
		batch = append(batch, registry.Entry{Entry: *dec.Entry()})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if err := dec.Err(); err != nil {
		b.Fatal(err)
	}
	flush()
	return st
}

// BenchmarkShadowRate measures users compared per second against a real
// Cyrus 3.6.1 imapd with SHADOW_BENCH_USERS users (default 100;
// bench/shadow.sh runs 1000) of SHADOW_BENCH_FOLDERS folders each (default
// 4, plus INBOX and one folder shared with the next user), an admin authorizing as each user, 4 users at a
// time, no rate cap: old imapd against itself as the new side (two IMAP
// sessions per user) and against a goleveldb registry holding the same
// entries.
func BenchmarkShadowRate(b *testing.B) {
	users := envInt("SHADOW_BENCH_USERS", 100)
	dump, n := benchDump(users, envInt("SHADOW_BENCH_FOLDERS", 4), 20)
	s := cyrusimapd.Start(b, cyrusimapd.Options{BaseDir: benchBase()})
	start := time.Now()
	s.Undump(b, bytes.NewReader(dump))
	b.Logf("%d users, %d mailboxes undumped into real Cyrus in %v", users, n, time.Since(start))
	st := loadRegistry(b, dump)
	u, _ := url.Parse("imap://" + s.Addr)
	newIMAP := func() *shadow.IMAPSource {
		return &shadow.IMAPSource{URL: u, ProxyUser: cyrusimapd.AdminUser, ProxyPassword: cyrusimapd.AdminPassword}
	}
	list := make([]shadow.User, users)
	for i := range list {
		list[i] = shadow.User{Name: fmt.Sprintf("u%d", i)}
	}
	for _, side := range []struct {
		name string
		new  func() shadow.Source
		cmp  shadow.CompareOptions
	}{
		{"imap-vs-imap", func() shadow.Source { return newIMAP() }, shadow.CompareOptions{}},
		{"imap-vs-registry", func() shadow.Source {
			return &shadow.RegistrySource{Name: "leveldb", Visible: shadow.StoreVisible(st, nil)}
		}, shadow.CompareOptions{StructuralOnly: true}},
	} {
		b.Run(fmt.Sprintf("%s/users=%d", side.name, users), func(b *testing.B) {
			var sum shadow.Summary
			for b.Loop() {
				r := &shadow.Runner{Old: newIMAP(), New: side.new(), Concurrency: 4, Timeout: time.Minute, Compare: side.cmp}
				var err error
				sum, err = r.Run(context.Background(), list)
				if err != nil {
					b.Fatal(err)
				}
				if sum.Equal != users {
					b.Fatalf("summary %+v: every user should be equal", sum)
				}
			}
			b.ReportMetric(float64(users*b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}

// BenchmarkRegistryListVsCyrus times the answer for one user (u0: 11 own
// mailboxes, 1 shared to it by another user, 20 shared folders) when the
// data holds SHADOW_BENCH_ENTRIES mailboxes (default 100000;
// ENTRIES=1000000 bench/shadow.sh): real Cyrus 3.6.1 imapd's LIST "" "*"
// (logged in beforehand; Cyrus scans its mailboxes.db) against the
// registry side (goleveldb Store.Visible through the reverse-ACL index,
// then RegistryList).
func BenchmarkRegistryListVsCyrus(b *testing.B) {
	entries := envInt("SHADOW_BENCH_ENTRIES", 100000)
	users := entries / 12
	dump, n := benchDump(users, 10, 20)
	s := cyrusimapd.Start(b, cyrusimapd.Options{BaseDir: benchBase()})
	start := time.Now()
	s.Undump(b, bytes.NewReader(dump))
	b.Logf("%d mailboxes undumped into real Cyrus in %v", n, time.Since(start))
	start = time.Now()
	st := loadRegistry(b, dump)
	b.Logf("%d mailboxes imported into goleveldb in %v", n, time.Since(start))
	const want = 1 + 10 + 1 + 1 + 20 // INBOX, folders, forNext, u<last>.forNext, shared
	b.Run(fmt.Sprintf("cyrus-imapd-LIST/entries=%d", n), func(b *testing.B) {
		// The admin authorizes as u0 over a raw session: LIST timing only.
		cn := dialAs(b, s, "u0")
		cn.Timeout = 20 * time.Minute
		for b.Loop() {
			lines := cn.Must(b, `LIST "" "*"`)
			if len(lines) != want {
				b.Fatalf("LIST gave %d lines, want %d", len(lines), want)
			}
		}
	})
	b.Run(fmt.Sprintf("registry-side/entries=%d", n), func(b *testing.B) {
		src := &shadow.RegistrySource{Name: "leveldb", Visible: shadow.StoreVisible(st, nil)}
		ns := shadow.StandardNamespace(false, false)
		ctx := context.Background()
		for b.Loop() {
			l, err := src.ListIn(ctx, shadow.User{Name: "u0"}, &ns)
			if err != nil {
				b.Fatal(err)
			}
			if len(l.Mailboxes) != want {
				b.Fatalf("registry side gave %d mailboxes, want %d", len(l.Mailboxes), want)
			}
		}
	})
}

// dialAs opens a raw IMAP session as user, the admin authorizing as it with
// SASL PLAIN (an initial response: Cyrus offers SASL-IR).
func dialAs(b *testing.B, s *cyrusimapd.Server, user string) *cyrusimapd.Conn {
	cn := s.DialRaw(b)
	resp := user + "\x00" + cyrusimapd.AdminUser + "\x00" + cyrusimapd.AdminPassword
	cn.Must(b, "AUTHENTICATE PLAIN "+b64(resp))
	return cn
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
