// Command convertetcd starts a 3-member cluster of Debian's etcd-server on
// loopback (127.0.0.61-63, --max-txn-ops 1024, data under $ETCD_DIR, else
// $WORK) for bench/convert.sh, prints the registry URL (maxtxnops=1024,
// workers=8) on stdout and keeps the cluster up until stdin is closed, then
// stops it and removes its data.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
)

func main() {
	base := os.Getenv("ETCD_DIR")
	if base == "" {
		base = os.Getenv("WORK")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "convertetcd:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp(base, "etcd")
	if err != nil {
		fmt.Fprintln(os.Stderr, "convertetcd:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	c, err := etcdtest.StartCluster(3, &etcdtest.Options{Dir: filepath.Join(dir, "m"), FirstIP: 61, MaxTxnOps: 1024})
	if err != nil {
		fmt.Fprintln(os.Stderr, "convertetcd:", err)
		os.Exit(1)
	}
	fmt.Println(c.URL("/murder", "maxtxnops=1024&workers=8"))
	io.Copy(io.Discard, os.Stdin)
	c.Stop()
}
