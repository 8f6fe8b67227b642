package natslink

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// unicastTo sends a DIRECT_UNIQUE write to dest at ip, as a host without an
// agent answers the source of a datagram it got (nmbd's
// GetBackupListResponse goes to the UDP source of the request).
func (p *peer) unicastTo(t *testing.T, ip netip.Addr, dest netbios.Name, id uint16, slot, text string) {
	t.Helper()
	m := dgram.Message{ID: id, SourceIP: p.i.IP(), SourcePort: 138, Source: netbios.MustNew(p.h.Name(), 0),
		Dest: dest, Mailslot: smbmail.Prefix + slot, Data: []byte(text)}
	b, err := m.Append(nil, smbmail.Samba)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.h.WriteTo(b, 138, p.i.Index, netip.AddrPortFrom(ip, 138)); err != nil {
		t.Fatal(err)
	}
}

// datagramErrors counts the DATAGRAM ERROR packets the peer receives within d.
func (p *peer) datagramErrors(d time.Duration) int {
	n := 0
	timeout := time.After(d)
	for {
		select {
		case pk := <-p.h.Packets():
			if pk.Port == 138 && len(pk.Data) > 0 && pk.Data[0] == byte(nbdgm.Error) {
				n++
			}
		case <-timeout:
			return n
		}
	}
}

// A host without an agent answers a gateway's rebroadcast with a unique
// datagram to the gateway's address, for the original sender's name (nmbd's
// GetBackupListResponse to an agent of another subnet). The gateway owns
// no such name; the directory knows it as an agent host of another subnet,
// so the gateway forwards the reply through the link instead of answering
// DESTINATION NAME NOT PRESENT. Names the directory does not know on
// another subnet still get the error.
func TestUniqueReplyOfHostWithoutAgentIsForwarded(t *testing.T) {
	s := newSite(t, false)
	a1 := s.add("A1", "s1", 11)
	b1 := s.add("B1", "s2", 21)
	p1 := s.peer("WIN1", "s1", 50)
	s.converge()
	gw := a1.Interfaces()[0].IP()
	sub := subscribe(t, b1, "BROWSE")
	subMsgr := subscribe(t, b1, "MESSNGR")

	p1.unicastTo(t, gw, netbios.MustNew("B1", netbios.Workstation), 0x0a0a, "BROWSE", "backup list")
	d := exactlyOnce(t, "B1", sub, "backup list")
	if d.Source() != "WIN1" || d.Addr != netip.AddrPortFrom(p1.i.IP(), 138) || d.From.Suffix() != 0 {
		t.Errorf("B1 got it from %v at %v, want WIN1<00> at the host's own address", d.From, d.Addr)
	}
	if n := p1.datagramErrors(quietTime); n != 0 {
		t.Errorf("WIN1 got %d DATAGRAM ERROR packets for a forwarded reply", n)
	}
	// The Messenger's name keeps its suffix, as on a \\HOST write.
	p1.unicastTo(t, gw, netbios.MustNew("B1", netbios.Messenger), 0x0a0b, "MESSNGR", "popup")
	exactlyOnce(t, "B1<03>", subMsgr, "popup")
	if n := s.links["A1"].M.Forwarded.Load(); n != 2 {
		t.Errorf("A1 forwarded %d, want 2", n)
	}

	// Unchanged: a name nobody has, a suffix the link does not carry, and
	// a name of the gateway's own subnet get the error, and go nowhere.
	s.add("A2", "s1", 12)
	s.converge()
	for i, n := range []netbios.Name{netbios.MustNew("NOSUCH", 0), netbios.MustNew("B1", netbios.MasterBrowser),
		netbios.MustNew("A2", 0)} {
		p1.unicastTo(t, gw, n, uint16(0x0b00+i), "BROWSE", "not forwarded")
		if got := p1.datagramErrors(quietTime); got != 1 {
			t.Errorf("to %v: %d DATAGRAM ERROR packets, want 1", n, got)
		}
	}
	select {
	case d := <-sub.C:
		t.Errorf("B1 got %q from %s", d.Data, d.Source())
	case <-time.After(quietTime):
	}
	if n := s.links["A1"].M.Forwarded.Load(); n != 2 {
		t.Errorf("A1 forwarded %d, want still 2", n)
	}
}

// What a host floods the gateway with is forwarded up to its own limit
// (per LAN source address), without an error per packet, and leaves the
// other hosts' replies alone; a copy is forwarded once; and a datagram
// from a linked agent's address is never forwarded (what the link puts on
// a LAN comes from one: no loop).
func TestForwardIsLimitedPerSourceAndNeverLoops(t *testing.T) {
	s := newSite(t, false)
	const burst = 3
	s.tune = func(name string, c *Config) {
		if name == "A1" {
			// No refill worth a token within the test: the count is exact.
			c.RateForward, c.BurstForward = 1e-6, burst
		}
	}
	a1 := s.add("A1", "s1", 11)
	b1 := s.add("B1", "s2", 21)
	flood, other := s.peer("FLOOD", "s1", 50), s.peer("WIN1", "s1", 51)
	s.converge()
	l := s.links["A1"]
	gw := a1.Interfaces()[0].IP()
	sub := subscribe(t, b1, "BROWSE")
	b1name := netbios.MustNew("B1", 0)

	const sent = 20
	for i := range sent {
		flood.unicastTo(t, gw, b1name, uint16(i), "BROWSE", "flood")
	}
	eventually(t, "A1 takes every datagram", func() bool { return l.M.Forwarded.Load()+l.M.RateLimited.Load() == sent })
	if got := l.M.Forwarded.Load(); got != burst {
		t.Errorf("forwarded %d of %d, want the burst, %d", got, sent, burst)
	}
	if got := drain(sub, quietTime); len(got) != burst {
		t.Errorf("B1 got %d writes, want %d", len(got), burst)
	}
	if n := flood.datagramErrors(quietTime); n != 0 {
		t.Errorf("the flooding host got %d DATAGRAM ERROR packets", n)
	}

	// Another host's reply still goes through, and only once.
	other.unicastTo(t, gw, b1name, 0x4242, "BROWSE", "reply")
	other.unicastTo(t, gw, b1name, 0x4242, "BROWSE", "reply")
	exactlyOnce(t, "B1", sub, "reply")
	if l.M.Duplicates.Load() == 0 {
		t.Error("the copy was not counted as a duplicate")
	}

	// A linked agent's address (here the other host's, as the directory
	// says): never forwarded, the usual error.
	// It is on another subnet, so A1 stays the gateway of s1.
	fake := Announcement{ID: "~FAKE", Name: "FAKE", LANs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
		Addrs: []netip.Addr{other.i.IP()}}
	l.dir.put(fake, time.Now())
	before := l.M.Forwarded.Load()
	other.unicastTo(t, gw, b1name, 0x4343, "BROWSE", "from an agent")
	if n := other.datagramErrors(quietTime); n != 1 {
		t.Errorf("a datagram from an agent's address: %d DATAGRAM ERROR packets, want 1", n)
	}
	if l.M.Forwarded.Load() != before {
		t.Error("a datagram from an agent's address was forwarded")
	}
}

// drain returns what sub receives until nothing has come for quiet.
func drain(sub *agent.Subscription, quiet time.Duration) []string {
	var out []string
	for {
		select {
		case d := <-sub.C:
			out = append(out, string(d.Data))
		case <-time.After(quiet):
			return out
		}
	}
}
