package nbns_test

import (
	"fmt"

	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// The node status request nbtscan sends, and how a response reads back.
func ExampleNodeStatusRequest() {
	req, _ := nbns.NodeStatusRequest(0x57eb, netbios.Wildcard).Append(nil)
	fmt.Printf("% x\n", req[:4])
	resp, _ := nbns.NodeStatusResponse(0x57eb, netbios.Wildcard, []nbns.NodeName{
		{Name: netbios.MustNew("GOHOST", 0).Raw, Flags: nbns.NameActive},
	}, nil).Append(nil)
	p, _ := nbns.Decode(resp)
	fmt.Println(p.Response(), p.Answers[0].Status.Names[0])
	// Output:
	// 57 eb 00 00
	// true GOHOST<00>
}
