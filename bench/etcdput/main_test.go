package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestLeaderPutsOnRealCluster runs the built program as bench/mupdate.sh
// does, with -leader, on a real three-member etcd cluster: the endpoint it
// names is the one a follower says leads, and the puts it counts are the
// keys it left in etcd.
func TestLeaderPutsOnRealCluster(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etcdput")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c := etcdtest.Start(t, 3, nil)
	eps := c.Endpoints()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	cmd := exec.Command(bin, "-leader", "-label", "t.", "-clients", "4", "-duration", "1s", "-endpoints", strings.Join(eps, ","))
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("etcdput: %v\n%s", err, errb.String())
	}
	got := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || !strings.HasPrefix(k, "t.") {
			t.Fatalf("etcdput printed %q, want label.key=value lines", sc.Text())
		}
		got[strings.TrimPrefix(k, "t.")] = v
	}

	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// Who leads, asked of a member that does not.
	var leaderID uint64
	for _, ep := range eps {
		if ep == got["endpoint"] {
			continue
		}
		st, err := cli.Status(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		leaderID = st.Leader
		break
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, m := range ml.Members {
		if m.ID == leaderID && len(m.ClientURLs) > 0 {
			want = m.ClientURLs[0]
		}
	}
	if want == "" || got["endpoint"] != want {
		t.Fatalf("etcdput chose %q; the followers name %q (leader %x)", got["endpoint"], want, leaderID)
	}

	puts, err := strconv.Atoi(got["puts"])
	if err != nil || puts < 1 || got["put_clients"] != "4" {
		t.Fatalf("figures %v; want puts ≥ 1 from 4 clients", got)
	}
	resp, err := cli.Get(ctx, "/etcdput/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != int64(puts) {
		t.Fatalf("etcdput counted %d puts; etcd holds %d of its keys", puts, resp.Count)
	}
}

// TestNoLeaderIsAnError: endpoints that do not answer give a clear error
// and exit status 1, not figures.
func TestNoLeaderIsAnError(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etcdput")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, "-leader", "-duration", "1s", "-endpoints", "http://127.0.0.1:1")
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; stderr %q", err, errb.String())
	}
	if out.Len() != 0 || !strings.Contains(errb.String(), "no member of [http://127.0.0.1:1] is the leader") {
		t.Fatalf("stdout %q, stderr %q; want no figures and the reason", out.String(), errb.String())
	}
}
