//go:build linux

package netnstest

import (
	"fmt"
	"net/netip"
	"sync"
)

// Segment is an extra broadcast domain of a lab: a bridge of its own in the
// lab's bridge namespace, with a subnet of its own. Nothing routes between
// segments (the bridge namespace has no addresses and forwards nothing), so
// a lab with several segments is several LANs; a host on two segments (a
// backbone for TCP, say) can reach both.
type Segment struct {
	lab       *Lab
	name      string
	Bridge    string
	Prefix    netip.Prefix // e.g. 198.51.100.0/24
	Broadcast netip.Addr
	mu        sync.Mutex
	n         int
	addrs     map[*Host]netip.Addr
}

// AddSegment adds a bridge for prefix, which must be a /24 of the
// documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24).
// name is short (letters and digits).
func (l *Lab) AddSegment(name string, prefix netip.Prefix) *Segment {
	l.t.Helper()
	ok := false
	for _, p := range []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"} {
		ok = ok || prefix.Masked() == netip.MustParsePrefix(p)
	}
	if !ok {
		l.t.Fatalf("netnstest: segment %s: only the documentation /24s are allowed", prefix)
	}
	s := &Segment{lab: l, name: name, Bridge: "br" + name, Prefix: prefix.Masked(), addrs: map[*Host]netip.Addr{}}
	a := s.Prefix.Addr().As4()
	a[3] = 255
	s.Broadcast = netip.AddrFrom4(a)
	l.must(l.ip("-n", l.bridgeNS, "link", "add", s.Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"))
	l.must(l.ip("-n", l.bridgeNS, "link", "set", s.Bridge, "up"))
	return s
}

// AddHost adds a host whose eth0 is on s (Host.Iface, Addr, Prefix and
// Broadcast describe it), and with eth1, eth2... on each of more.
func (s *Segment) AddHost(role string, more ...*Segment) *Host {
	l := s.lab
	l.t.Helper()
	h := &Host{Role: role, NS: fmt.Sprintf("%s-%s", l.id, role), Iface: "eth0", Prefix: s.Prefix, Broadcast: s.Broadcast, lab: l}
	l.addNS(h.NS)
	l.must(h.writeSysctl("net/ipv6/conf/all/disable_ipv6", "1"))
	l.must(h.writeSysctl("net/ipv6/conf/default/disable_ipv6", "1"))
	l.must(l.ip("-n", h.NS, "link", "set", "lo", "up"))
	for k, seg := range append([]*Segment{s}, more...) {
		addr := seg.attach(h, fmt.Sprintf("eth%d", k))
		if k == 0 {
			h.Addr = addr
		}
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h
}

// Addr is h's address on s (invalid if h is not on s).
func (s *Segment) Addr(h *Host) netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[h]
}

// attach connects h to s as interface iface with the next address (.11 up).
func (s *Segment) attach(h *Host, iface string) netip.Addr {
	l := s.lab
	s.mu.Lock()
	i := s.n
	s.n++
	a := s.Prefix.Addr().As4()
	a[3] = byte(11 + i)
	addr := netip.AddrFrom4(a)
	s.addrs[h] = addr
	s.mu.Unlock()
	port := fmt.Sprintf("%sp%d", s.name, i)
	l.must(l.ip("-n", l.bridgeNS, "link", "add", port, "type", "veth", "peer", "name", iface, "netns", h.NS))
	l.must(l.ip("-n", l.bridgeNS, "link", "set", port, "master", s.Bridge, "up"))
	l.must(l.ip("-n", h.NS, "addr", "add", fmt.Sprintf("%s/%d", addr, s.Prefix.Bits()), "brd", s.Broadcast.String(), "dev", iface))
	l.must(l.ip("-n", h.NS, "link", "set", iface, "up"))
	return addr
}
