package names_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// The tests run a names.Service on a memnet LAN inside a testing/synctest
// bubble (every test calls synctest.Test), so registration's 3 × 250 ms,
// the 5 s late-refusal window and cache lifetimes take no real time and
// are exact: a test can say "2 s after registration" and mean it.

var (
	lanBcast = netip.MustParseAddr("192.0.2.255")
	alpha    = netbios.MustNew("ALPHA", netbios.Workstation)
	wg       = netbios.MustNew("TESTGRP", netbios.Workstation)
)

// onLAN runs f in a synctest bubble with an empty memnet LAN.
func onLAN(t *testing.T, f func(t *testing.T, n *memnet.Network)) {
	synctest.Test(t, func(t *testing.T) { f(t, memnet.New(1)) })
}

// ip4 is 192.0.2.x.
func ip4(x byte) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, x}) }

// node is a names.Service on its own memnet host, fed every packet that
// arrives on port 137, as the agent feeds it.
type node struct {
	s   *names.Service
	h   *memnet.Host
	i   transport.Interface
	ctx context.Context // ends with the test, and with it the late-refusal watch
}

// newNode starts a service at 192.0.2.x that owns ALPHA<00> (unique) and
// TESTGRP<00> (group), unless cfg lists other names. The host is closed
// when the test ends.
func newNode(t *testing.T, n *memnet.Network, host string, x byte, cfg names.Config) *node {
	t.Helper()
	h := n.Host(host)
	i := h.AddInterface("lan", netip.PrefixFrom(ip4(x), 24))
	cfg.Transport = h
	if cfg.Names == nil {
		cfg.Names = []names.Owned{{Name: alpha}, {Name: wg, Group: true}}
	}
	s := names.New(cfg)
	go func() {
		for pk := range h.Packets() {
			if pk.Port == transport.NamePort {
				s.Handle(pk)
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); h.Close() })
	return &node{s: s, h: h, i: i, ctx: ctx}
}

// state returns the state of one of the node's names.
func (n *node) state(t *testing.T, name netbios.Name) names.Entry {
	t.Helper()
	for _, e := range n.s.Table() {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("%v is not in the table", name)
	return names.Entry{}
}

// peer is a raw node that speaks bytes (nmblookup, nbtscan, a Windows or
// Samba host, a hostile one).
type peer struct {
	t *testing.T
	h *memnet.Host
	i transport.Interface
}

func newPeer(t *testing.T, n *memnet.Network, host string, x byte) *peer {
	h := n.Host(host)
	i := h.AddInterface("lan", netip.PrefixFrom(ip4(x), 24))
	t.Cleanup(func() { h.Close() })
	return &peer{t: t, h: h, i: i}
}

// send sends pk from the peer's port from to dst:137.
func (p *peer) send(from uint16, dst netip.Addr, pk *nbns.Packet) {
	p.t.Helper()
	b, err := pk.Append(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.h.WriteTo(b, from, p.i.Index, netip.AddrPortFrom(dst, transport.NamePort)); err != nil {
		p.t.Fatal(err)
	}
}

// got is one packet a peer received, decoded.
type got struct {
	nbns.Packet
	src netip.AddrPort
	dst netip.AddrPort
	at  time.Time
}

// recv returns what the peer receives on port 137 and on any port it sent
// from during d (its own broadcasts excluded).
func (p *peer) recv(d time.Duration) []got {
	p.t.Helper()
	var out []got
	deadline := time.After(d)
	for {
		select {
		case pk, ok := <-p.h.Packets():
			if !ok {
				return out
			}
			if pk.Src.Addr() == p.i.IP() {
				continue
			}
			m, err := nbns.Decode(pk.Data)
			if err != nil {
				p.t.Fatalf("undecodable packet from %v: %v", pk.Src, err)
			}
			out = append(out, got{Packet: m, src: pk.Src, dst: netip.AddrPortFrom(pk.Dst, pk.Port), at: time.Now()})
		case <-deadline:
			return out
		}
	}
}

// serve answers registrations and queries as the peer's reply function
// says, until the test ends; reply returns nil for silence.
func (p *peer) serve(reply func(g got) *nbns.Packet) {
	go func() {
		for pk := range p.h.Packets() {
			if pk.Src.Addr() == p.i.IP() {
				continue
			}
			m, err := nbns.Decode(pk.Data)
			if err != nil {
				continue
			}
			if r := reply(got{Packet: m, src: pk.Src, dst: netip.AddrPortFrom(pk.Dst, pk.Port), at: time.Now()}); r != nil {
				b, err := r.Append(nil)
				if err != nil {
					panic(err)
				}
				p.h.WriteTo(b, transport.NamePort, p.i.Index, pk.Src)
			}
		}
	}()
}

// only keeps the packets with opcode op that are requests (or responses).
func only(l []got, op nbns.Opcode, response bool) []got {
	var out []got
	for _, g := range l {
		if g.Opcode() == op && g.Response() == response {
			out = append(out, g)
		}
	}
	return out
}

// register runs one registration round to its end.
func (n *node) register() { n.s.Register(n.ctx) }
