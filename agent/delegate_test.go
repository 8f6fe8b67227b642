package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Beside nmbd, a name nmbd holds is left to it on the wire (no answer, no
// node status entry, no defence) but its datagrams are still delivered;
// taken back, it is registered again.
func TestDelegatedNames(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a, p := l.agentAndPeer("ALPHA", 11, "NMBLOOKUP", 50)
		alpha := netbios.MustNew("ALPHA", 0)
		a.ns.SetDelegated(func(n netbios.Name, group bool) bool { return n == alpha && !group })
		if s := state(a, "ALPHA"); s != names.Delegated {
			t.Fatalf("ALPHA is %v, want delegated", s)
		}
		p.send(40000, bcast, 137, nbns.NameQuery(7, alpha, true))
		p.send(40000, netip.MustParseAddr("192.0.2.11"), 137, nbns.NodeStatusRequest(8, netbios.Wildcard))
		p.send(40000, bcast, 137, nbns.Registration(9, alpha, 300, nbns.Entry(false, p.i.IP()), true))
		for _, got := range p.answers() {
			switch got.ID {
			case 7:
				t.Errorf("answered a query for a delegated name: %+v", got)
			case 8:
				for _, n := range got.Answers[0].Status.Names {
					if n.Name == alpha.Raw {
						t.Errorf("node status lists the delegated name")
					}
				}
			case 9:
				t.Errorf("defended a delegated name: %+v", got)
			}
		}
		sub, err := a.Router().Subscribe(`app\x`, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := dgram.Message{ID: 1, SourceIP: p.i.IP(), Source: netbios.MustNew("NMBLOOKUP", 0), Dest: alpha, Mailslot: `\MAILSLOT\app\x`, Data: []byte("still ours")}
		b, err := m.Append(nil, smbmail.Samba)
		if err != nil {
			t.Fatal(err)
		}
		p.raw(138, netip.MustParseAddr("192.0.2.11"), 138, b)
		if d := recv(t, sub); string(d.Data) != "still ours" {
			t.Fatalf("got %+v", d)
		}
		a.ns.SetDelegated(nil)
		time.Sleep(5 * time.Second) // the next registration rounds
		if s := state(a, "ALPHA"); s != names.Active {
			t.Fatalf("ALPHA taken back is %v, want active", s)
		}
	})
}

// A datagram nmbd handed over for a name that is not ours gets no DATAGRAM
// ERROR: it may be for nmbd or for another of its subscribers.
func TestRelayedDatagramForOtherNameIsNotAnswered(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a, p := l.agentAndPeer("ALPHA", 11, "PEER", 50)
		m := dgram.Message{ID: 2, SourceIP: p.i.IP(), Source: netbios.MustNew("PEER", 0), Dest: netbios.MustNew("SAMBASRV", 0), Mailslot: `\MAILSLOT\app\x`, Data: []byte("x")}
		b, err := m.Append(nil, smbmail.Samba)
		if err != nil {
			t.Fatal(err)
		}
		for _, relayed := range []bool{true, false} {
			before := a.M.ErrorsSent.Load()
			a.dgram.handle(&transport.Packet{Port: 138, Ifindex: a.tr.Interfaces()[0].Index, Src: netip.AddrPortFrom(p.i.IP(), 138), Relayed: relayed, Data: b})
			if sent := a.M.ErrorsSent.Load() - before; sent != map[bool]uint64{true: 0, false: 1}[relayed] {
				t.Errorf("relayed %v: %d DATAGRAM ERRORs sent", relayed, sent)
			}
		}
	})
}
