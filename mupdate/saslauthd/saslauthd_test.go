package saslauthd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/internal/mupdatetest"
	"github.com/murderkit/murderkit/internal/murdertest"
	"github.com/murderkit/murderkit/mupdate"
	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateclient"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
	"github.com/murderkit/murderkit/mupdate/saslauthd"
)

const realm = "sasl.murdertest"

var users = map[string]string{"murder": "murderpw", "alice": "pa ss:wörd"}

// TestVerifyAgainstRealSaslauthd: Debian's saslauthd -a sasldb accepts the
// right passwords and refuses wrong ones, unknown users and foreign
// realms, and logs the service and realm our requests carry.
func TestVerifyAgainstRealSaslauthd(t *testing.T) {
	sd := murdertest.StartSaslauthd(t, realm, users)
	c := &saslauthd.Client{Path: sd.Socket}
	ctx := context.Background()
	for _, tc := range []struct {
		user, pw string
		ok       bool
	}{
		{"murder", "murderpw", true},
		{"alice", "pa ss:wörd", true},
		{"alice@" + realm, "pa ss:wörd", true}, // explicit realm
		{"murder", "murderpw2", false},
		{"murder", "", false},
		{"nobody", "murderpw", false},
		{"murder@other.realm", "murderpw", false},
	} {
		err := c.Verify(ctx, tc.user, tc.pw)
		if tc.ok && err != nil {
			t.Errorf("Verify(%s): %v", tc.user, err)
		}
		if !tc.ok && !errors.Is(err, saslauthd.ErrRejected) {
			t.Errorf("Verify(%s, wrong) = %v, want ErrRejected", tc.user, err)
		}
	}
	if !sd.WaitLog("auth success: [user=murder] [service=mupdate] [realm=]",
		"auth success: [user=alice] [service=mupdate] [realm="+realm+"]",
		"auth failure: [user=murder] [service=mupdate] [realm=other.realm]") {
		t.Errorf("saslauthd did not see the requests as libsasl sends them:\n%s", sd.Log())
	}
	// saslauthd gone: a clear error naming the socket, not a rejection
	sd.Stop()
	err := c.Verify(ctx, "murder", "murderpw")
	var ue *saslauthd.UnavailableError
	if !errors.As(err, &ue) || errors.Is(err, saslauthd.ErrRejected) || !strings.Contains(err.Error(), sd.Socket) {
		t.Errorf("Verify with saslauthd stopped = %v, want an UnavailableError naming %s", err, sd.Socket)
	}
}

// TestRequestIsLibsaslFraming: the bytes Request builds are those
// testsaslauthd (sasl2-bin, libsasl's framing) sends for the same check.
func TestRequestIsLibsaslFraming(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mux")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		var req []byte
		for range 4 {
			var l [2]byte
			if _, err := io.ReadFull(nc, l[:]); err != nil {
				break
			}
			b := make([]byte, binary.BigEndian.Uint16(l[:]))
			io.ReadFull(nc, b)
			req = append(append(req, l[:]...), b...)
		}
		nc.Write([]byte("\x00\x02OK"))
		got <- req
	}()
	out, err := exec.Command("/usr/sbin/testsaslauthd", "-f", sock, "-u", "murder", "-p", "murder pw", "-s", "mupdate", "-r", "r.example").CombinedOutput()
	if err != nil {
		t.Fatalf("testsaslauthd (sasl2-bin): %v: %s", err, out)
	}
	want := <-got
	c := &saslauthd.Client{Realm: "r.example"}
	mine, err := c.Request("murder", "murder pw")
	if err != nil {
		t.Fatal(err)
	}
	if string(mine) != string(want) {
		t.Errorf("Request = %q, testsaslauthd sent %q", mine, want)
	}
	if mine2, _ := (&saslauthd.Client{}).Request("murder@r.example", "murder pw"); string(mine2) != string(want) {
		t.Errorf("Request(user@realm) = %q, want the realm split off: %q", mine2, want)
	}
}

// TestVerifyBadPeers: a peer that never answers costs at most the
// timeout or the caller's context; a malformed answer is an
// UnavailableError; an oversized request is refused before sending.
func TestVerifyBadPeers(t *testing.T) {
	dir := t.TempDir()
	serve := func(name string, answer []byte) string {
		sock := filepath.Join(dir, name)
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					io.ReadFull(nc, make([]byte, 2))
					if answer != nil {
						nc.Write(answer)
						nc.Close()
					}
					time.AfterFunc(10*time.Second, func() { nc.Close() })
				}()
			}
		}()
		return sock
	}
	silent := serve("silent", nil)
	start := time.Now()
	err := (&saslauthd.Client{Path: silent, Timeout: 300 * time.Millisecond}).Verify(context.Background(), "u", "p")
	var ue *saslauthd.UnavailableError
	if !errors.As(err, &ue) || time.Since(start) > 5*time.Second {
		t.Errorf("silent peer: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	err = (&saslauthd.Client{Path: silent}).Verify(ctx, "u", "p")
	if !errors.As(err, &ue) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled context: %v after %v", err, time.Since(start))
	}
	for name, ans := range map[string][]byte{"short": []byte("\x00\x01O"), "truncated": []byte("\x00\x09OK")} {
		err := (&saslauthd.Client{Path: serve(name, ans), Timeout: time.Second}).Verify(context.Background(), "u", "p")
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "answer") {
			t.Errorf("%s answer: %v", name, err)
		}
	}
	if err := (&saslauthd.Client{Path: silent}).Verify(context.Background(), "u", strings.Repeat("x", 9000)); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("oversized request: %v", err)
	}
}

// TestMupdateServerWithSaslauthd: a MUPDATE server whose Auth is
// saslauthd offers PLAIN alone, logs in the right password, refuses a
// wrong one and SCRAM; with a credentials store beside it, the store's
// users also get SCRAM.
func TestMupdateServerWithSaslauthd(t *testing.T) {
	sd := murdertest.StartSaslauthd(t, realm, users)
	start := func(auth mupdateserver.Authenticator) string {
		return mupdatetest.Start(t, mupdateserver.Config{Backend: memory.New(nil), Auth: auth, Admins: []string{"murder", "file"},
			FailedLoginPause: -1}).Addr
	}
	ctx := context.Background()
	login := func(addr, user, pw, mech string) ([]string, error) {
		c, err := mupdateclient.Dial(ctx, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		mechs := c.Banner().Mechanisms
		if err := c.Authenticate(ctx, user, pw, mech); err != nil {
			return mechs, err
		}
		if err := c.Reserve(ctx, "user."+user, "be!default"); err != nil && !errors.Is(err, mupdate.ErrExists) {
			t.Errorf("%s RESERVE after login: %v", user, err)
		}
		return mechs, nil
	}
	only := start(&saslauthd.Auth{Client: &saslauthd.Client{Path: sd.Socket}})
	mechs, err := login(only, "murder", "murderpw", "PLAIN")
	if err != nil || !slices.Equal(mechs, []string{"PLAIN"}) {
		t.Errorf("saslauthd only: login %v, mechanisms %q (want PLAIN alone)", err, mechs)
	}
	if _, err := login(only, "murder", "wrong", "PLAIN"); err == nil {
		t.Errorf("saslauthd only: a wrong password logged in")
	}
	if _, err := login(only, "murder", "murderpw", creds.SCRAMSHA256); err == nil {
		t.Errorf("saslauthd only: SCRAM logged in")
	}
	st, err := creds.Parse(strings.NewReader("file:filepw\n"))
	if err != nil {
		t.Fatal(err)
	}
	both := start(&saslauthd.Auth{Client: &saslauthd.Client{Path: sd.Socket}, Store: st})
	mechs, err = login(both, "file", "filepw", creds.SCRAMSHA256)
	if err != nil || !slices.Contains(mechs, creds.SCRAMSHA256) {
		t.Errorf("with a store: SCRAM for the store's user: %v (mechanisms %q)", err, mechs)
	}
	if _, err := login(both, "murder", "murderpw", "PLAIN"); err != nil {
		t.Errorf("with a store: saslauthd's user by PLAIN: %v", err)
	}
	// saslauthd down: refused like a wrong password, the store still works
	sd.Stop()
	if _, err := login(only, "murder", "murderpw", "PLAIN"); err == nil {
		t.Errorf("saslauthd stopped: login succeeded")
	}
	if _, err := login(both, "file", "filepw", "PLAIN"); err != nil {
		t.Errorf("saslauthd stopped: the store's user: %v", err)
	}
}
