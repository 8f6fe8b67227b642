package natslink

import (
	"testing"
	"time"

	"github.com/mailslot/mailslot/wire/netbios"
)

// A group write to a name the agents only overhear (the browser's WG<1d>,
// where every host announcement goes) reaches, through the link, the
// agents of another subnet that overhear it, once each, as it reaches the
// agents of the sender's own LAN: the browse lists of one site list the
// hosts of the others. An agent that does not overhear the name gets
// nothing, as from its LAN.
func TestOverheardGroupNameCrossesSubnets(t *testing.T) {
	s := newSite(t, false)
	a1 := s.add("A1", "s1", 11)
	b1, b2 := s.add("B1", "s2", 21), s.add("B2", "s2", 22)
	p1 := s.peer("WIN1", "s1", 50)
	s.converge()
	master := netbios.MustNew(testWG, netbios.MasterBrowser)
	b1.Overhear(master)
	subB1, subB2 := subscribe(t, b1, "BROWSE"), subscribe(t, b2, "BROWSE")

	// From an agent host (its origin publishes it) ...
	if err := a1.Write(a1.OpenGroup(master, "BROWSE"), []byte("from an agent")); err != nil {
		t.Fatal(err)
	}
	if d := exactlyOnce(t, "B1", subB1, "from an agent"); d.Source() != "A1" {
		t.Errorf("B1 got it from %s, want A1", d.Source())
	}
	// ... and from a host without an agent (its gateway bridges it).
	p1.broadcastTo(t, master, 0x1d1d, "BROWSE", "from a host without an agent")
	if d := exactlyOnce(t, "B1", subB1, "from a host without an agent"); d.Source() != "WIN1" {
		t.Errorf("B1 got it from %s, want WIN1", d.Source())
	}
	select {
	case d := <-subB2.C:
		t.Errorf("B2, which does not overhear %v, got %q from %s", master, d.Data, d.Source())
	case <-time.After(quietTime):
	}
}
