package dbfile_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/murderkit/murderkit/cyrusdb"
	"github.com/murderkit/murderkit/dbfile"
)

func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "mailboxes.db")

	w, err := dbfile.Create(path, cyrusdb.Twoskip, nil)
	if err != nil {
		panic(err)
	}
	w.Add([]byte("alpha"), []byte("one"))
	w.Add([]byte("beta"), []byte("two"))
	if err := w.Close(); err != nil {
		panic(err)
	}

	r, err := dbfile.Open(path)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	fmt.Println(r.Format())
	cyrusdb.WriteShow(os.Stdout, r)
	v, _ := r.Get([]byte("beta"))
	fmt.Printf("beta=%s\n", v)
	// Output:
	// twoskip
	// alpha	one
	// beta	two
	// beta=two
}
