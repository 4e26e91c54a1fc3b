// Command convertetcd starts a 3-member cluster of Debian's etcd-server on
// loopback (127.0.0.61-63) for bench/convert.sh, prints the registry URL on
// stdout and keeps the cluster up until stdin is closed, then stops it and
// removes its data.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/murderkit/murderkit/registry/etcd/etcdtest"
)

func main() {
	dir, err := os.MkdirTemp(os.Getenv("WORK"), "etcd")
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
	fmt.Println(c.URL("/murder", ""))
	io.Copy(io.Discard, os.Stdin)
	c.Stop()
}
