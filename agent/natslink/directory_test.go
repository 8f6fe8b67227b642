package natslink

import (
	"net/netip"
	"testing"
	"time"
)

// The indexes follow every change of the directory: a moved agent, a
// goodbye, an expiry.
func TestDirectoryIndexes(t *testing.T) {
	d := newDirectory(10)
	lan1, lan2 := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")
	ip1, ip2 := netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("198.51.100.5")
	now := time.Now()
	d.put(Announcement{ID: "B", Name: "HB", LANs: []netip.Prefix{lan1}, Addrs: []netip.Addr{ip1}}, now)
	if name, ok := d.agentAt(ip1); !ok || name != "HB" || d.lowestOn(lan1, "C") || !d.lowestOn(lan1, "A") || !d.lowestOn(lan2, "C") {
		t.Fatal("first announcement not indexed")
	}
	// B moves to lan2.
	d.put(Announcement{ID: "B", Name: "HB", LANs: []netip.Prefix{lan2}, Addrs: []netip.Addr{ip2}}, now)
	if _, ok := d.agentAt(ip1); ok || !d.lowestOn(lan1, "C") || d.lowestOn(lan2, "C") {
		t.Fatal("the move is not indexed")
	}
	if name, _ := d.agentAt(ip2); name != "HB" {
		t.Fatal("the new address is not indexed")
	}
	d.put(Announcement{ID: "A", Name: "HA", LANs: []netip.Prefix{lan2}, Addrs: []netip.Addr{ip1}}, now.Add(time.Hour))
	if d.lowestOn(lan2, "B") {
		t.Fatal("A is lower than B on lan2")
	}
	d.expire(now.Add(time.Minute)) // B expires, A stays
	if _, ok := d.agentAt(ip2); ok || d.lowestOn(lan2, "B") {
		t.Fatal("the expiry is not indexed")
	}
	if name, _ := d.agentAt(ip1); name != "HA" {
		t.Fatal("A lost")
	}
	d.put(Announcement{ID: "A", Bye: true}, now)
	if _, ok := d.agentAt(ip1); ok || !d.lowestOn(lan2, "Z") {
		t.Fatal("the goodbye is not indexed")
	}
}
