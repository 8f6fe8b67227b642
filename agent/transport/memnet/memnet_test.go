package memnet

import (
	"net/netip"
	"testing"
)

func TestBroadcastAndUnicast(t *testing.T) {
	n := New(1)
	a, b, c := n.Host("a"), n.Host("b"), n.Host("c")
	ia := a.AddInterface("lan", netip.MustParsePrefix("192.0.2.1/24"))
	b.AddInterface("lan", netip.MustParsePrefix("192.0.2.2/24"))
	c.AddInterface("other", netip.MustParsePrefix("192.0.2.3/24"))
	if err := a.WriteTo([]byte("all"), 138, ia.Index, netip.MustParseAddrPort("192.0.2.255:138")); err != nil {
		t.Fatal(err)
	}
	if len(a.Packets()) != 1 || len(b.Packets()) != 1 || len(c.Packets()) != 0 {
		t.Fatalf("broadcast reached a=%d b=%d c=%d", len(a.Packets()), len(b.Packets()), len(c.Packets()))
	}
	p := <-b.Packets()
	if !p.Broadcast || p.Src != netip.MustParseAddrPort("192.0.2.1:138") || string(p.Data) != "all" {
		t.Fatalf("packet %+v", p)
	}
	<-a.Packets()
	a.WriteTo([]byte("one"), 137, ia.Index, netip.MustParseAddrPort("192.0.2.2:137"))
	a.WriteTo([]byte("none"), 137, ia.Index, netip.MustParseAddrPort("192.0.2.3:137")) // another segment
	if len(b.Packets()) != 1 || len(c.Packets()) != 0 || len(a.Packets()) != 0 {
		t.Fatal("unicast went astray")
	}
	if p := <-b.Packets(); p.Broadcast || p.Port != 137 {
		t.Fatalf("unicast packet %+v", p)
	}
}

func TestFaultsAndQueueBound(t *testing.T) {
	n := New(2)
	a, b := n.Host("a"), n.Host("b")
	ia := a.AddInterface("lan", netip.MustParsePrefix("192.0.2.1/24"))
	b.AddInterface("lan", netip.MustParsePrefix("192.0.2.2/24"))
	n.SetFaults(1, 0, 0)
	a.WriteTo([]byte("x"), 138, ia.Index, netip.MustParseAddrPort("192.0.2.2:138"))
	if len(b.Packets()) != 0 {
		t.Fatal("loss 1 delivered")
	}
	n.SetFaults(0, 1, 0)
	a.WriteTo([]byte("x"), 138, ia.Index, netip.MustParseAddrPort("192.0.2.2:138"))
	if len(b.Packets()) != 2 {
		t.Fatalf("dup 1 delivered %d", len(b.Packets()))
	}
	n.SetFaults(0, 0, 0)
	for i := 0; i < QueueLen+10; i++ {
		a.WriteTo([]byte("x"), 138, ia.Index, netip.MustParseAddrPort("192.0.2.2:138"))
	}
	if len(b.Packets()) != QueueLen || b.Dropped() != 12 {
		t.Fatalf("queue %d dropped %d", len(b.Packets()), b.Dropped())
	}
}
