package transport

import (
	"net/netip"
	"testing"
)

func TestDirectedBroadcast(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.11/24":    "192.0.2.255",
		"198.51.100.7/25":  "198.51.100.127",
		"203.0.113.200/30": "203.0.113.203",
		"10.1.2.3/8":       "10.255.255.255",
		"192.0.2.1/32":     "192.0.2.1",
	} {
		if got := DirectedBroadcast(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("%s: %v, want %s", in, got, want)
		}
	}
}

func TestRoute(t *testing.T) {
	ifs := []Interface{
		{Index: 1, Addr: netip.MustParsePrefix("192.0.2.11/24"), Broadcast: netip.MustParseAddr("192.0.2.255")},
		{Index: 2, Addr: netip.MustParsePrefix("198.51.100.11/24"), Broadcast: netip.MustParseAddr("198.51.100.255")},
	}
	for dst, want := range map[string]int{"192.0.2.99": 1, "198.51.100.255": 2, "198.51.100.1": 2, "203.0.113.1": 1} {
		if i, ok := Route(ifs, netip.MustParseAddr(dst)); !ok || i.Index != want {
			t.Errorf("%s: interface %d, want %d", dst, i.Index, want)
		}
	}
	if _, ok := Route(nil, netip.MustParseAddr("192.0.2.1")); ok {
		t.Error("routed without interfaces")
	}
}
