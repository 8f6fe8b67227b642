package natslink_test

import (
	"fmt"

	"github.com/mailslot/mailslot/agent/natslink"
)

// The subjects a NATS client uses to take part: a broadcast to
// \\*\mailslot\app\x of workgroup WORKGROUP, and a write to
// \\BRAVO\mailslot\app\x.
func ExampleBcastSubject() {
	fmt.Println(natslink.BcastSubject("workgroup", `app\x`))
	fmt.Println(natslink.HostSubject("workgroup", "bravo"))
	fmt.Println(natslink.BcastSubject("WORKGROUP", "odd.name*"))
	// Output:
	// mailslot.WORKGROUP.bcast.APP/X
	// mailslot.WORKGROUP.host.BRAVO
	// mailslot.WORKGROUP.bcast.ODD%2ENAME%2A
}
