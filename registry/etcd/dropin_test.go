package etcd_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
)

// dropIn is the systemd drop-in for Debian's etcd-server that docs/scaling.md
// tells operators to install.
const dropIn = "../../dist/etcd.service.d/murderkit.conf"

// TestDebianDropIn starts Debian's etcd with exactly the environment the
// drop-in sets (and no flag for what it sets) and checks that etcd acts on
// it: transactions of 1,000 operations pass (etcd's own limit is 128), and
// 1,100 writes leave a snapshot on disk (etcd 3.4's default is one per
// 100,000). etcd refuses to start on a bad value of the compaction
// settings; GOGC and GOMEMLIMIT are read by Go's runtime, and the test
// checks the member's environment holds them.
func TestDebianDropIn(t *testing.T) {
	f, err := os.Open(dropIn)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Environment="); ok {
			env = append(env, v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"GOGC=", "GOMEMLIMIT=", "ETCD_SNAPSHOT_COUNT=", "ETCD_AUTO_COMPACTION_MODE=", "ETCD_AUTO_COMPACTION_RETENTION=", "ETCD_MAX_TXN_OPS="}
	for _, w := range want {
		found := false
		for _, e := range env {
			found = found || strings.HasPrefix(e, w)
		}
		if !found {
			t.Errorf("%s sets no %s", dropIn, w)
		}
	}
	c := etcdtest.Start(t, 1, &etcdtest.Options{FirstIP: 76, MaxTxnOps: -1, Env: env})
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", c.Members[0].PID()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range env {
		if !strings.Contains("\x00"+string(environ)+"\x00", "\x00"+e+"\x00") {
			t.Errorf("member's environment lacks %s", e)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ops := make([]clientv3.Op, 1000)
	for i := range ops {
		ops[i] = clientv3.OpPut(fmt.Sprintf("/dropin/txn/%04d", i), "x")
	}
	if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		t.Errorf("a transaction of 1,000 operations: %v (ETCD_MAX_TXN_OPS not in force)", err)
	}
	for i := range 1100 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/dropin/put/%04d", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	snaps, _ := filepath.Glob(filepath.Join(c.Members[0].Dir, "member", "snap", "*.snap"))
	if len(snaps) == 0 {
		t.Errorf("no snapshot after 1,100 writes (ETCD_SNAPSHOT_COUNT not in force)")
	}
}
