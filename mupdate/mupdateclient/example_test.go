package mupdateclient_test

import (
	"context"
	"fmt"
	"time"

	"github.com/murderkit/murderkit/mupdate/mupdateclient"
)

// Follow a master: the full list, then every change; a NOOP from another
// goroutine measures how far behind we are.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := mupdateclient.Dial(ctx, "127.0.0.1:3905", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.Authenticate(ctx, "murder", "secret", ""); err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		start := time.Now()
		if c.Noop(ctx) == nil {
			fmt.Println("lag below", time.Since(start))
		}
	}()
	err = c.Update(ctx, nil, func(ev mupdateclient.Event) error {
		switch ev.Type {
		case mupdateclient.EventSynced:
			fmt.Println("full list received")
		case mupdateclient.EventDelete:
			fmt.Println("deleted", ev.Name)
		default:
			fmt.Println(ev.Mailbox.Name, ev.Mailbox.State, ev.Mailbox.Location)
		}
		return nil
	})
	fmt.Println(err)
}
