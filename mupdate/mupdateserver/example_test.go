package mupdateserver_test

import (
	"context"
	"log"
	"net"
	"strings"

	"github.com/murderkit/murderkit/mupdate/creds"
	"github.com/murderkit/murderkit/mupdate/memory"
	"github.com/murderkit/murderkit/mupdate/mupdateserver"
)

// A master on an in-memory backend that Cyrus backends (mupdate_authname:
// murder) and frontends can use.
func Example() {
	st, err := creds.Parse(strings.NewReader("murder:murderpw\n"))
	if err != nil {
		log.Fatal(err)
	}
	srv, err := mupdateserver.New(mupdateserver.Config{
		Backend:    memory.New(nil),
		Auth:       st,
		Admins:     []string{"murder"},
		ServerName: "mupdate.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx, ln)
	// ... later:
	cancel()
	srv.Close()
}
