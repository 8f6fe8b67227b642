package agent

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// peer is a raw node on the LAN that speaks bytes, like nmblookup or
// nbtscan would.
type peer struct {
	t *testing.T
	h *memnet.Host
	i transport.Interface
}

func (l *lan) peer(name string, x byte) *peer {
	h := l.net.Host(name)
	i := h.AddInterface("lan", netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, x}), 24))
	return &peer{t: l.t, h: h, i: i}
}

func (p *peer) send(port uint16, to netip.Addr, toPort uint16, pk *nbns.Packet) {
	p.t.Helper()
	b, err := pk.Append(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	p.raw(port, to, toPort, b)
}

func (p *peer) raw(port uint16, to netip.Addr, toPort uint16, b []byte) {
	if err := p.h.WriteTo(b, port, p.i.Index, netip.AddrPortFrom(to, toPort)); err != nil {
		p.t.Fatal(err)
	}
}

// answers returns the name service packets the peer received within 2 s
// (its own broadcasts excluded).
func (p *peer) answers() []nbns.Packet {
	var out []nbns.Packet
	deadline := time.After(2 * time.Second)
	for {
		select {
		case pk := <-p.h.Packets():
			if pk.Src.Addr() == p.i.IP() || pk.Port == transport.DatagramPort {
				continue
			}
			d, err := nbns.Decode(pk.Data)
			if err != nil {
				p.t.Fatalf("undecodable answer: %v", err)
			}
			out = append(out, d)
		case <-deadline:
			return out
		}
	}
}

func (p *peer) drain() {
	for {
		select {
		case <-p.h.Packets():
		default:
			return
		}
	}
}

var bcast = netip.MustParseAddr("192.0.2.255")

// agentAndPeer starts an agent and a raw peer, lets the agent register its
// names, and empties the peer's queue.
func (l *lan) agentAndPeer(name string, x byte, peerName string, px byte) (*Agent, *peer) {
	a := l.add(name, x)
	p := l.peer(peerName, px)
	time.Sleep(time.Second)
	p.drain()
	return a, p
}

func TestAnswersQueriesForOwnNamesOnly(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		_, p := l.agentAndPeer("ALPHA", 11, "NMBLOOKUP", 50)

		p.send(40000, bcast, 137, nbns.NameQuery(7, netbios.MustNew("ALPHA", 0), true))
		got := p.answers()
		if len(got) != 1 || got[0].ID != 7 || got[0].Rcode() != 0 || len(got[0].Answers) != 1 {
			t.Fatalf("answers = %+v", got)
		}
		if a := got[0].Answers[0]; a.Addresses[0].IP != netip.MustParseAddr("192.0.2.11") || a.Addresses[0].Flags&nbns.NBGroup != 0 || a.TTL == 0 {
			t.Fatalf("answer record %+v", a)
		}
		// The workgroup is answered as a group name.
		p.send(40000, bcast, 137, nbns.NameQuery(8, netbios.MustNew("TESTGRP", 0), true))
		if got := p.answers(); len(got) != 1 || got[0].Answers[0].Addresses[0].Flags&nbns.NBGroup == 0 {
			t.Fatalf("workgroup answers = %+v", got)
		}
		// A broadcast query for someone else's name: silence, never a
		// negative answer.
		p.send(40000, bcast, 137, nbns.NameQuery(9, netbios.MustNew("OTHER", 0), true))
		if got := p.answers(); len(got) != 0 {
			t.Fatalf("answered a broadcast query for another name: %+v", got)
		}
		// A unicast query without RD for a name we lack: NAM_ERR.
		q := nbns.NameQuery(10, netbios.MustNew("OTHER", 0), false)
		q.Flags &^= nbns.FlagRecursionDesired
		p.send(40000, netip.MustParseAddr("192.0.2.11"), 137, q)
		if got := p.answers(); len(got) != 1 || got[0].Rcode() != nbns.RcodeName {
			t.Fatalf("unicast negative = %+v", got)
		}
	})
}

func TestNodeStatus(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		_, p := l.agentAndPeer("ALPHA", 11, "NBTSCAN", 50)
		p.send(41000, netip.MustParseAddr("192.0.2.11"), 137, nbns.NodeStatusRequest(3, netbios.Wildcard))
		got := p.answers()
		if len(got) != 1 || got[0].Answers[0].Status == nil {
			t.Fatalf("answers = %+v", got)
		}
		st := got[0].Answers[0].Status
		if len(st.Names) != 2 || st.Names[0].String() != "ALPHA<00>" || st.Names[1].String() != "TESTGRP<00>" ||
			st.Names[1].Flags&nbns.NBGroup == 0 || st.Names[0].Flags&nbns.NameActive == 0 {
			t.Fatalf("table = %+v", st.Names)
		}
		if st.Statistics[0] != 0x02 {
			t.Fatalf("unit ID %x is not the interface MAC", st.Statistics[:6])
		}
	})
}

func TestStatusAndLookupThroughAgent(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		l.add("BRAVO", 12)
		l.add("CHARLIE", 13)
		time.Sleep(time.Second)
		st, err := a.HostStatus(context.Background(), "BRAVO")
		if err != nil || st.Addr != "192.0.2.12" || len(st.Names) != 2 || st.Names[0].Name != "BRAVO<00>" {
			t.Fatalf("status = %+v, %v", st, err)
		}
		r, err := a.LookupName(context.Background(), "TESTGRP<00>")
		if err != nil || !r.Group || r.Source != "self" {
			t.Fatalf("lookup of own group = %+v, %v", r, err)
		}
		r, err = a.LookupName(context.Background(), "charlie")
		if err != nil || r.Group || len(r.Addrs) != 1 || r.Addrs[0] != "192.0.2.13" || r.Source != "broadcast" {
			t.Fatalf("lookup = %+v, %v", r, err)
		}
	})
}

func TestDefendsAgainstRawRegistration(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		_, p := l.agentAndPeer("ALPHA", 11, "ROGUE", 50)
		p.send(137, bcast, 137, nbns.Registration(99, netbios.MustNew("ALPHA", 0), 300, nbns.Entry(false, p.i.IP()), true))
		got := p.answers()
		if len(got) != 1 || got[0].ID != 99 || got[0].Opcode() != nbns.OpRegistration || got[0].Rcode() != nbns.RcodeActive {
			t.Fatalf("answers = %+v", got)
		}
		// A group registration of our workgroup is fine: no answer.
		p.send(137, bcast, 137, nbns.Registration(100, netbios.MustNew("TESTGRP", 0), 300, nbns.Entry(true, p.i.IP()), true))
		if got := p.answers(); len(got) != 0 {
			t.Fatalf("refused a group registration: %+v", got)
		}
	})
}

func TestReleaseOnStop(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		_, p := l.agentAndPeer("ALPHA", 11, "WATCHER", 50)
		l.stop()
		released := map[string]bool{}
		for _, pk := range p.answers() {
			if pk.Opcode() == nbns.OpRelease && !pk.Response() && pk.Flags&nbns.FlagBroadcast != 0 {
				released[pk.Questions[0].Name.String()] = true
			}
		}
		if !released["ALPHA<00>"] || !released["TESTGRP<00>"] {
			t.Fatalf("released %v", released)
		}
	})
}

func TestCacheExpiry(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		l.add("BRAVO", 12)
		time.Sleep(time.Second)
		if _, err := a.Open(context.Background(), "BRAVO", "x"); err != nil {
			t.Fatal(err)
		}
		// BRAVO vanishes without releasing its name (cut it off the LAN):
		// the cache still resolves it until the entry expires.
		l.net.SetFilter(func(from string, _ *transport.Packet) bool { return from != "BRAVO" })
		ans, err := a.ns.Resolve(context.Background(), netbios.MustNew("BRAVO", 0))
		if err != nil || ans.Source != "cache" {
			t.Fatalf("before expiry: %+v, %v", ans, err)
		}
		time.Sleep(names.MaxCacheTTL + time.Second)
		if ans, err := a.ns.Resolve(context.Background(), netbios.MustNew("BRAVO", 0)); err == nil {
			t.Fatalf("after expiry still resolved: %+v", ans)
		}
	})
}

func TestStaticEntries(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11, func(c *Config) {
			c.Static = []names.Static{{Name: netbios.MustNew("FAROFF", 0), Addr: netip.MustParseAddr("192.0.2.12")}}
		})
		b := l.add("BRAVO", 12)
		time.Sleep(time.Second)
		sub, _ := b.Router().Subscribe("s", nil)
		// FAROFF is not a name BRAVO owns: it refuses the datagram.
		if err := a.Send(context.Background(), "FAROFF", "s", []byte("x")); err != nil {
			t.Fatal(err)
		}
		none(t, sub)
		if b.M.NotOurs.Load() != 1 {
			t.Fatalf("not-ours = %d", b.M.NotOurs.Load())
		}
	})
}

func TestGroupNameUsesBroadcast(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11, func(c *Config) { c.Workgroup = "OTHERWG" })
		b := l.add("BRAVO", 12)
		time.Sleep(time.Second)
		sub, _ := b.Router().Subscribe("g", nil)
		tgt, err := a.Open(context.Background(), "TESTGRP", "g")
		if err != nil || !tgt.Group() || tgt.MaxPayload() != BroadcastLimit {
			t.Fatalf("target %+v, %v", tgt, err)
		}
		if err := a.Write(tgt, make([]byte, BroadcastLimit+1)); err == nil {
			t.Fatal("a 425-byte broadcast was sent")
		}
		if err := a.Write(tgt, []byte("to the other group")); err != nil {
			t.Fatal(err)
		}
		if d := recv(t, sub); string(d.Data) != "to the other group" {
			t.Fatalf("got %q", d.Data)
		}
	})
}

func TestInterfacesThatComeLaterGetOurNames(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		l.add("ALPHA", 11)
		time.Sleep(time.Second)
		// A peer on another segment, which ALPHA joins later.
		h := l.net.Host("LATE")
		pi := h.AddInterface("lan2", netip.MustParsePrefix("198.51.100.50/24"))
		p := &peer{t: t, h: h, i: pi}
		idx := l.hosts["ALPHA"].AddInterface("lan2", netip.MustParsePrefix("198.51.100.11/24")).Index
		time.Sleep(3 * time.Second)
		p.drain()
		p.send(40000, netip.MustParseAddr("198.51.100.255"), 137, nbns.NameQuery(5, netbios.MustNew("ALPHA", 0), true))
		got := p.answers()
		if len(got) != 1 || got[0].Answers[0].Addresses[0].IP != netip.MustParseAddr("198.51.100.11") {
			t.Fatalf("answers on the new interface: %+v", got)
		}
		l.hosts["ALPHA"].RemoveInterface(idx)
		time.Sleep(3 * time.Second)
		p.send(40000, netip.MustParseAddr("198.51.100.255"), 137, nbns.NameQuery(6, netbios.MustNew("ALPHA", 0), true))
		if got := p.answers(); len(got) != 0 {
			t.Fatalf("answered on a removed interface: %+v", got)
		}
	})
}

func TestWINS(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		wins := l.peer("WINS", 50)
		defer wins.h.Close()
		a := l.add("ALPHA", 11, func(c *Config) { c.WINS = wins.i.IP() })
		// The server: accept registrations, answer queries for FAROFF.
		regs := make(chan nbns.Packet, 8)
		go func() {
			for pk := range wins.h.Packets() {
				if pk.Broadcast || pk.Port != 137 {
					continue
				}
				p, err := nbns.Decode(pk.Data)
				if err != nil || p.Response() {
					continue
				}
				switch p.Opcode() {
				case nbns.OpRegistration:
					regs <- p
					r := &nbns.Packet{ID: p.ID, Flags: nbns.MakeFlags(nbns.OpRegistration, nbns.FlagResponse|nbns.FlagAuthoritative, 0),
						Answers: p.Additional}
					wins.send(137, pk.Src.Addr(), pk.Src.Port(), r)
				case nbns.OpQuery:
					if n := p.Questions[0].Name.Base(); n == "FAROFF" || n[0] == '#' {
						wins.send(137, pk.Src.Addr(), pk.Src.Port(), nbns.PositiveQueryResponse(p.ID, p.Questions[0].Name, 300,
							nbns.Entry(false, netip.MustParseAddr("198.51.100.7"))))
					}
				}
			}
		}()
		time.Sleep(2 * time.Second)
		select {
		case r := <-regs:
			if r.Questions[0].Name.String() != "ALPHA<00>" || r.Flags&nbns.FlagBroadcast != 0 {
				t.Fatalf("WINS registration %+v", r)
			}
		default:
			t.Fatal("no unicast registration reached the WINS server")
		}
		if s := state(a, "ALPHA"); s != names.Active {
			t.Fatalf("ALPHA is %v", s)
		}
		ans, err := a.ns.Resolve(context.Background(), netbios.MustNew("FAROFF", 0))
		if err != nil || ans.Source != "wins" || ans.Addrs[0] != netip.MustParseAddr("198.51.100.7") {
			t.Fatalf("resolve through WINS: %+v %v", ans, err)
		}
		// The cache stays bounded however many names are resolved.
		for i := 0; i < names.DefaultCacheSize+500; i++ {
			if _, err := a.ns.Resolve(context.Background(), netbios.MustNew(fmt.Sprintf("#%d", i), 0)); err != nil {
				t.Fatal(err)
			}
		}
		if n := a.ns.CacheLen(); n > names.DefaultCacheSize {
			t.Fatalf("cache holds %d entries", n)
		}
	})
}

func TestAddNameLater(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		b := l.add("BRAVO", 12)
		time.Sleep(time.Second)
		if e := a.Names().Add(context.Background(), names.Owned{Name: netbios.MustNew("ALPHA", netbios.Messenger)}); e.State != names.Active {
			t.Fatalf("ALPHA<03> is %v", e.State)
		}
		// BRAVO cannot take it any more.
		if e := b.Names().Add(context.Background(), names.Owned{Name: netbios.MustNew("ALPHA", netbios.Messenger)}); e.State != names.Conflict {
			t.Fatalf("BRAVO's ALPHA<03> is %v", e.State)
		}
	})
}

// TestLateRefusalStillTakesTheName: a busy owner that answers after the
// three tries still wins the name (no two owners on the LAN).
func TestLateRefusalStillTakesTheName(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		slow := l.peer("SLOWNMBD", 50)
		defer slow.h.Close()
		go func() {
			for pk := range slow.h.Packets() {
				p, err := nbns.Decode(pk.Data)
				if err != nil || p.Response() || p.Opcode() != nbns.OpRegistration || p.Questions[0].Name.Base() != "ALPHA" {
					continue
				}
				time.Sleep(1500 * time.Millisecond) // after the third try
				slow.send(137, pk.Src.Addr(), pk.Src.Port(), nbns.Conflict(p.ID, p.Questions[0].Name, nbns.Entry(false, slow.i.IP())))
				return
			}
		}()
		a := l.add("ALPHA", 11)
		time.Sleep(4 * time.Second)
		if s := state(a, "ALPHA"); s != names.Conflict {
			t.Fatalf("ALPHA is %v after a late refusal", s)
		}
	})
}

func TestConflictDemand(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		p := l.peer("WINSLIKE", 50)
		time.Sleep(7 * time.Second)
		demand := nbns.Conflict(4242, netbios.MustNew("ALPHA", 0), nbns.Entry(false, p.i.IP()))
		demand.Flags = nbns.MakeFlags(nbns.OpRegistration, nbns.FlagResponse|nbns.FlagAuthoritative, nbns.RcodeConflict)
		p.send(137, netip.MustParseAddr("192.0.2.11"), 137, demand)
		time.Sleep(time.Second)
		if s := state(a, "ALPHA"); s != names.Conflict {
			t.Fatalf("ALPHA is %v after a conflict demand", s)
		}
		// The group name is untouched by such a demand.
		demand.Answers[0].Name = netbios.MustNew("TESTGRP", 0)
		p.send(137, netip.MustParseAddr("192.0.2.11"), 137, demand)
		time.Sleep(time.Second)
		if tab := a.NameTable(); tab.Names[1].State != "active" {
			t.Fatalf("workgroup: %+v", tab.Names[1])
		}
	})
}
