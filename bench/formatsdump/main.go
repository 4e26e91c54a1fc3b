// Command formatsdump prints a skiplist or twoskip file the way
// "cyr_dbtool FILE <format> show" does (key TAB value LF, raw bytes), using
// the project's readers. bench/formats.sh times it against cyr_dbtool.
package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: formatsdump FILE")
		os.Exit(2)
	}
	r, err := dbfile.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	defer r.Close()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := cyrusdb.WriteShow(w, r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if t := r.Tail(); t != nil {
		fmt.Fprintln(os.Stderr, "note:", t)
	}
}
