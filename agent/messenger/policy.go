//go:build linux

package messenger

import (
	"net/netip"
	"strings"
	"sync/atomic"
)

// Spam is what killed the Messenger service, so every incoming popup
// passes a policy first. Refusals are counted, never shown or answered.

// Default limits.
const (
	DefaultRate  = 0.2 // popups per second from one source IP (one every 5 s)...
	DefaultBurst = 5   // ...after a burst of 5
	// DefaultMaxLen is the longest text shown (bytes in the OEM code page).
	// One datagram cannot carry more than about 440 bytes anyway.
	DefaultMaxLen = 512
)

// Policy says which popups are shown.
type Policy struct {
	// AllowNames and DenyNames are sender names (the From field, and the
	// datagram's source NetBIOS name), compared case-insensitively. A name
	// on DenyNames is refused; when AllowNames is not empty, only its
	// names are accepted.
	AllowNames, DenyNames []string
	// AllowNets and DenyNets are source networks. DenyNets wins; when
	// AllowNets is empty only the subnets of the agent's interfaces are
	// accepted (AnyNetwork lifts that).
	AllowNets, DenyNets []netip.Prefix
	AnyNetwork          bool
	// Rate and Burst: token bucket per source IP (popups per second);
	// zero means the default, negative unlimited.
	Rate, Burst float64
	// MaxLen is the longest text accepted; 0 means DefaultMaxLen.
	MaxLen int
	// DoNotDisturb refuses every popup (they are counted).
	DoNotDisturb bool
}

// Counters count what the service received and why it refused.
type Counters struct {
	Received, Shown, Malformed, NotForUs                    atomic.Uint64
	RefusedNetwork, RefusedName, RefusedRate, RefusedLength atomic.Uint64
	RefusedDND, SubscriberDrops, Sent                       atomic.Uint64
}

// Snapshot returns the counters by name.
func (c *Counters) Snapshot() map[string]uint64 {
	return map[string]uint64{
		"received": c.Received.Load(), "shown": c.Shown.Load(), "malformed": c.Malformed.Load(),
		"not_for_us": c.NotForUs.Load(), "refused_network": c.RefusedNetwork.Load(),
		"refused_name": c.RefusedName.Load(), "refused_rate": c.RefusedRate.Load(),
		"refused_length": c.RefusedLength.Load(), "refused_dnd": c.RefusedDND.Load(),
		"subscriber_drops": c.SubscriberDrops.Load(), "sent": c.Sent.Load(),
	}
}

func inNets(nets []netip.Prefix, ip netip.Addr) bool {
	for _, p := range nets {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

func hasName(l []string, names ...string) bool {
	for _, n := range l {
		for _, m := range names {
			if m != "" && strings.EqualFold(n, m) {
				return true
			}
		}
	}
	return false
}

// admitSource checks what is known before decoding: the source network,
// do-not-disturb and the rate. local reports whether ip is on a local
// subnet. It returns the counter to increment on refusal.
func (p *Policy) admitSource(ip netip.Addr, local bool, c *Counters) *atomic.Uint64 {
	switch {
	case p.DoNotDisturb:
		return &c.RefusedDND
	case inNets(p.DenyNets, ip):
		return &c.RefusedNetwork
	case len(p.AllowNets) > 0 && !inNets(p.AllowNets, ip):
		return &c.RefusedNetwork
	case len(p.AllowNets) == 0 && !p.AnyNetwork && !local:
		return &c.RefusedNetwork
	}
	return nil
}

// admitMessage checks the sender names and the length.
func (p *Policy) admitMessage(from, source string, textLen int, c *Counters) *atomic.Uint64 {
	switch {
	case hasName(p.DenyNames, from, source):
		return &c.RefusedName
	case len(p.AllowNames) > 0 && !hasName(p.AllowNames, from, source):
		return &c.RefusedName
	case textLen > p.MaxLen:
		return &c.RefusedLength
	}
	return nil
}
