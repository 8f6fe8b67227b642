package dgram_test

import (
	"fmt"
	"net/netip"

	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Build the datagram a host sends to announce itself to its workgroup's
// master browser, then parse it back layer by layer.
func Example() {
	ann, _ := browser.NewHostAnnouncement("GOHOST", 720000, browser.Workstation|browser.Server, "a Go host").Append(nil)
	m := dgram.Message{
		Group:    true,
		ID:       1,
		SourceIP: netip.MustParseAddr("192.0.2.20"),
		Source:   netbios.MustNew("GOHOST", netbios.Workstation),
		Dest:     netbios.MustNew("TESTGRP", netbios.MasterBrowser),
		Mailslot: browser.Mailslot,
		Data:     ann,
	}
	b, err := m.Append(nil, smbmail.Windows)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, w, _ := dgram.Parse(b)
	f, _ := browser.Decode(w.Data)
	a := f.(*browser.Announcement)
	fmt.Println(len(b), "bytes:", p.Type, p.SourceName, "->", p.DestName)
	fmt.Println(w.Name, a.Opcode(), a.ServerName, a.Type)
	// Output:
	// 212 bytes: direct_group GOHOST<00> -> TESTGRP<1d>
	// \MAILSLOT\BROWSE HostAnnouncement GOHOST WORKSTATION|SERVER
}
