package browse_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mailslot/mailslot/browse"
)

// An application announces itself in the workgroup with its own
// ServerType bit and comment, and finds its peers (the other hosts that
// announce the same bit) as they come and go. Run it on two hosts with
// "mailslot agent" running.
func Example_peerDiscovery() {
	const myBit = 0x00000004 // SV_TYPE_SQLSERVER: a bit peers of this app set
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop, err := browse.Announce(ctx, "", "MYAPP-01", "my app, node 1", myBit)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	events, err := browse.Watch(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		if ev.Entry.Kind == browse.KindHost && ev.Entry.Type&myBit != 0 {
			fmt.Println(ev.Type, ev.Entry.Name, ev.Entry.Addr, ev.Entry.Comment)
		}
	}
}
