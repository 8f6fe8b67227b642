//go:build linux

package browse

import (
	"net/netip"
	"testing"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Whatever a LAN host sends to \MAILSLOT\BROWSE, the service neither
// panics nor lets the list exceed its bound.
func FuzzHandle(f *testing.F) {
	f.Add(announcement(browser.OpHostAnnouncement, "HOST", "comment", browser.Workstation))
	f.Add(announcement(browser.OpDomainAnnouncement, "WG", "LMB", 0x80001000))
	f.Add([]byte("\x02\x01\x00SAMBASRV"))
	f.Add([]byte("\x0a\x01\x01\x00\x00\x00SAMBASRV\x00"))
	h := memnet.New(1).Host("x")
	h.AddInterface("lan", netip.MustParsePrefix("192.0.2.1/24"))
	a, err := agent.New(agent.Config{Name: "ALPHA", Workgroup: "TESTGRP", Transport: h, NoLocalSocket: true, DisableDNS: true})
	if err != nil {
		f.Fatal(err)
	}
	s := &Service{a: a, list: newList(8), kick: make(chan struct{}, 1), cfg: Config{TimeScale: 1}}
	dests := []netbios.Name{netbios.MustNew("TESTGRP", netbios.MasterBrowser), netbios.MSBrowse, netbios.MustNew("ALPHA", 0)}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i, d := range dests {
			s.HandleMailslot(&agent.Inbound{Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + len(b))}), 138),
				Dest: d, Group: true, Path: Path, Data: b})
		}
		if s.Len() > 8 {
			t.Fatalf("list grew to %d", s.Len())
		}
	})
}
