package names_test

import (
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

// registered returns a node whose names are registered, one of them
// (TAKEN<00>) lost to a defender at .60, and a quiet peer at .50.
func registered(t *testing.T) (*node, *peer) {
	n := memnet.New(1)
	a := newNode(t, n, "ALPHA", 11, names.Config{Names: []names.Owned{
		{Name: alpha}, {Name: wg, Group: true}, {Name: taken}}})
	d := newPeer(t, n, "OWNER", 60)
	d.serve(func(g got) *nbns.Packet {
		if g.Opcode() == nbns.OpRegistration && !g.Response() && g.Questions[0].Name == taken && g.src.Addr() == ip4(11) {
			return nbns.Conflict(g.ID, taken, nbns.Entry(false, d.i.IP()))
		}
		return nil
	})
	a.register()
	p := newPeer(t, n, "PEER", 50)
	return a, p
}

var taken = netbios.MustNew("TAKEN", netbios.Workstation)

// Defence (RFC 1002 §5.1.1.4): another host's registration of a unique
// name we own, or a unique claim on our group name, gets a negative
// response (ACT_ERR) with our address, unicast to the claimant; a group
// registration of our group name, a claim on a name we lost or do not
// have, and our own broadcasts looped back get nothing.
func TestDefence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, p := registered(t)
		claim := func(id uint16, name netbios.Name, group bool) []got {
			p.send(transport.NamePort, lanBcast, nbns.Registration(id, name, 300, nbns.Entry(group, p.i.IP()), true))
			return p.recv(time.Second)
		}
		l := claim(1, alpha, false)
		if len(l) != 1 || l[0].ID != 1 || l[0].Opcode() != nbns.OpRegistration || !l[0].Response() ||
			l[0].Rcode() != nbns.RcodeActive || l[0].dst.Addr() != p.i.IP() || l[0].src.Addr() != ip4(11) {
			t.Fatalf("defence of ALPHA: %+v", l)
		}
		if rr := l[0].Answers[0]; rr.Name != alpha || rr.Addresses[0].IP != ip4(11) || rr.Addresses[0].Flags&nbns.NBGroup != 0 {
			t.Errorf("defence record %+v", rr)
		}
		if l := claim(2, wg, false); len(l) != 1 || l[0].Rcode() != nbns.RcodeActive || l[0].Answers[0].Addresses[0].Flags&nbns.NBGroup == 0 {
			t.Errorf("a unique claim on our group name: %+v", l)
		}
		for _, c := range []struct {
			why   string
			name  netbios.Name
			group bool
		}{
			{"a group registration of our group name", wg, true},
			{"a claim on a name we lost", taken, false},
			{"a claim on a name we do not have", netbios.MustNew("OTHER", 0), false},
			{"a claim on another suffix of our name", netbios.MustNew("ALPHA", 0x20), false},
		} {
			if l := claim(3, c.name, c.group); len(l) != 0 {
				t.Errorf("%s was answered: %+v", c.why, l)
			}
		}
		if d := a.s.C.Defended.Load(); d != 2 {
			t.Errorf("defended = %d, want 2", d)
		}
		if e := a.state(t, alpha); e.State != names.Active {
			t.Errorf("ALPHA is %v after defending it", e.State)
		}
	})
}

// Name queries are answered for our active names only, with the arrival
// interface's address; a broadcast query for any other name (one we lost,
// one we never had) gets silence, a unicast one without RD a NAM_ERR.
func TestQueriesAnsweredForOwnedNamesOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, p := registered(t)
		l := func(id uint16, name netbios.Name, bcast bool) []got {
			dst := lanBcast
			if !bcast {
				dst = a.i.IP()
			}
			p.send(40000, dst, nbns.NameQuery(id, name, bcast))
			return p.recv(time.Second)
		}
		for _, c := range []struct {
			name  netbios.Name
			group bool
		}{{alpha, false}, {wg, true}} {
			got := l(7, c.name, true)
			if len(got) != 1 || got[0].ID != 7 || got[0].Rcode() != nbns.RcodeOK || got[0].dst.Port() != 40000 {
				t.Fatalf("query for %v: %+v", c.name, got)
			}
			rr := got[0].Answers[0]
			if rr.Name != c.name || len(rr.Addresses) != 1 || rr.Addresses[0].IP != ip4(11) ||
				(rr.Addresses[0].Flags&nbns.NBGroup != 0) != c.group || rr.TTL != uint32(names.DefaultTTL/time.Second) {
				t.Errorf("answer for %v: %+v", c.name, rr)
			}
		}
		for _, name := range []netbios.Name{taken, netbios.MustNew("OTHER", 0)} {
			if got := l(8, name, true); len(got) != 0 {
				t.Errorf("broadcast query for %v answered: %+v", name, got)
			}
		}
		// Unicast without RD: NAM_ERR (RFC 1002 §4.2.14, as Samba); with
		// RD: silence (Samba's observed rule).
		q := nbns.NameQuery(9, taken, false)
		q.Flags &^= nbns.FlagRecursionDesired
		p.send(40000, a.i.IP(), q)
		if got := p.recv(time.Second); len(got) != 1 || got[0].Rcode() != nbns.RcodeName {
			t.Errorf("unicast query without RD for a lost name: %+v", got)
		}
		if got := l(10, taken, false); len(got) != 0 {
			t.Errorf("unicast query with RD for a lost name answered: %+v", got)
		}
		if c := a.s.C.Answers.Load(); c != 2 {
			t.Errorf("answers = %d, want 2", c)
		}
	})
}

// A name still being registered is not answered for: it is not ours yet.
func TestQueryDuringRegistrationIsNotAnswered(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{})
		p := newPeer(t, n, "PEER", 50)
		p.send(40000, lanBcast, nbns.NameQuery(1, alpha, true))
		if got := only(p.recv(time.Second), nbns.OpQuery, true); len(got) != 0 {
			t.Fatalf("answered before registering: %+v", got)
		}
		if e := a.state(t, alpha); e.State != names.Registering {
			t.Fatalf("ALPHA is %v", e.State)
		}
	})
}

// Node status (nbtscan, nmblookup -A) for "*" or one of our names: our
// name table (active names, and lost ones flagged as in conflict, as
// Windows shows them), with the group bit, and the interface MAC as the
// unit ID. For another name: silence.
func TestNodeStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, p := registered(t)
		for _, q := range []netbios.Name{netbios.Wildcard, alpha, wg} {
			p.send(41000, a.i.IP(), nbns.NodeStatusRequest(3, q))
			l := p.recv(time.Second)
			if len(l) != 1 || l[0].ID != 3 || len(l[0].Answers) != 1 || l[0].Answers[0].Status == nil || l[0].Answers[0].Name != q {
				t.Fatalf("status for %v: %+v", q, l)
			}
			st := l[0].Answers[0].Status
			flags := map[string]uint16{}
			for _, nn := range st.Names {
				flags[nn.String()] = nn.Flags
			}
			want := map[string]uint16{
				"ALPHA<00>":   nbns.NameActive,
				"TESTGRP<00>": nbns.NameActive | nbns.NBGroup,
				"TAKEN<00>":   nbns.NameActive | nbns.NameConflict,
			}
			if len(flags) != len(want) {
				t.Fatalf("table %v, want %v", flags, want)
			}
			for k, f := range want {
				if flags[k] != f {
					t.Errorf("%s flags %#x, want %#x", k, flags[k], f)
				}
			}
			if len(st.Statistics) < 6 || string(st.Statistics[:6]) != string(a.i.MAC) {
				t.Errorf("unit ID % x, want the MAC % x", st.Statistics, a.i.MAC)
			}
		}
		p.send(41000, a.i.IP(), nbns.NodeStatusRequest(4, netbios.MustNew("OTHER", 0)))
		if l := p.recv(time.Second); len(l) != 0 {
			t.Errorf("status for another name answered: %+v", l)
		}
		if c := a.s.C.StatusAnswers.Load(); c != 3 {
			t.Errorf("status answers = %d", c)
		}
	})
}

// An unsolicited NAME CONFLICT DEMAND (CFT_ERR) takes a unique name away;
// it cannot take a group name, and one that claims to come from our own
// address is ignored.
func TestConflictDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, p := registered(t)
		demand := func(name netbios.Name) {
			d := nbns.Conflict(4242, name, nbns.Entry(false, p.i.IP()))
			d.Flags = nbns.MakeFlags(nbns.OpRegistration, nbns.FlagResponse|nbns.FlagAuthoritative, nbns.RcodeConflict)
			p.send(transport.NamePort, a.i.IP(), d)
			time.Sleep(time.Second)
		}
		demand(wg)
		if e := a.state(t, wg); e.State != names.Active {
			t.Fatalf("a demand took the group name: %+v", e)
		}
		demand(alpha)
		if e := a.state(t, alpha); e.State != names.Conflict || e.Defender != p.i.IP() {
			t.Fatalf("ALPHA after a conflict demand: %+v", e)
		}
	})
}

// Garbage, oversized packets and unsolicited answers are counted, never
// answered, and change nothing.
func TestGarbageIsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, p := registered(t)
		dst := netip.AddrPortFrom(a.i.IP(), transport.NamePort)
		for _, b := range [][]byte{{1, 2, 3}, make([]byte, names.MaxPacket+1)} {
			if err := p.h.WriteTo(b, 40000, p.i.Index, dst); err != nil {
				t.Fatal(err)
			}
		}
		// A refusal nobody asked for is not a conflict demand.
		p.send(transport.NamePort, a.i.IP(), nbns.Conflict(999, alpha, nbns.Entry(false, p.i.IP())))
		if l := p.recv(time.Second); len(l) != 0 {
			t.Fatalf("answered garbage: %+v", l)
		}
		if m, u := a.s.C.Malformed.Load(), a.s.C.Unexpected.Load(); m != 2 || u != 1 {
			t.Errorf("malformed = %d, unexpected = %d, want 2 and 1", m, u)
		}
		if e := a.state(t, alpha); e.State != names.Active {
			t.Errorf("ALPHA is %v", e.State)
		}
	})
}
