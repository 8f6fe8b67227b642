//go:build linux

package messenger

import (
	"net/netip"
	"testing"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Whatever arrives on \MAILSLOT\MESSNGR, the service does not panic, keeps
// its history bounded, and what it shows is printable.
func FuzzHandle(f *testing.F) {
	f.Add([]byte("WIN98USER\x00WORKGROUP\x00HELLO WORLD\x00"))
	f.Add([]byte("A\x00B\x00\x1b[2J"))
	h := memnet.New(1).Host("x")
	h.AddInterface("lan", netip.MustParsePrefix("192.0.2.1/24"))
	a, err := agent.New(agent.Config{Name: "ALPHA", Workgroup: "TESTGRP", Transport: h, NoLocalSocket: true, DisableDNS: true})
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(a, Config{NoSocket: true, History: 4, Policy: Policy{Rate: -1}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s.HandleMailslot(&agent.Inbound{Source: netbios.MustNew("X", 0), Src: netip.MustParseAddrPort("192.0.2.9:138"),
			Dest: netbios.MustNew("ALPHA", netbios.Messenger), Path: Path, Data: b, Ifindex: 1})
		h := s.History("", true)
		if len(h) > 4 {
			t.Fatalf("history %d", len(h))
		}
		for _, r := range h {
			for _, c := range r.From + r.To + r.Text {
				if c < 0x20 && c != '\n' && c != '\t' {
					t.Fatalf("control character in %+v", r)
				}
			}
		}
	})
}
