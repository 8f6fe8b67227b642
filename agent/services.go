package agent

import (
	"context"
	"net/netip"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/winerr"
	"github.com/mailslot/mailslot/wire/netbios"
)

// This file exports what in-agent services (the Messenger, the browser)
// need beyond the Router: targets by full NetBIOS name, the interfaces, and
// the agent's rate-limit table.

// OpenName is Open for a NetBIOS name with its suffix (the Messenger's
// NAME<03>, a browser's WG<1d>): the name is resolved like any other, and a
// name this host owns is delivered here without the network.
func (a *Agent) OpenName(ctx context.Context, n netbios.Name, path string) (*Target, error) {
	if path == "" {
		return nil, &Error{Code: winerr.ERROR_INVALID_NAME, Msg: "empty mailslot path"}
	}
	t := target{display: `\\` + n.String()}
	if err := a.resolveTarget(ctx, n, n.Base(), &t); err != nil {
		return nil, err
	}
	t.max = maxPayload(path, t.group, a.cfg.Style)
	return &Target{t: t, path: path}, nil
}

// resolveTarget fills t's destination from the name service.
func (a *Agent) resolveTarget(ctx context.Context, n netbios.Name, host string, t *target) error {
	if a.linkTarget(ctx, n, false) { // an agent host on another LAN
		t.dest, t.link = n, true
		return nil
	}
	ans, err := a.ns.Resolve(ctx, n)
	if err != nil && a.linkTarget(ctx, n, true) {
		t.dest, t.link = n, true
		return nil
	}
	if err != nil {
		a.M.ResolveFailures.Add(1)
		return badNetPath("cannot resolve the NetBIOS name %s (no WINS, static, broadcast or DNS answer)", host)
	}
	t.dest, t.group = n, ans.Group
	if !ans.Group {
		t.addr = ans.Addrs[0]
		t.self = a.isOurAddr(t.addr)
	}
	return nil
}

// Interfaces returns the interfaces the agent serves now.
func (a *Agent) Interfaces() []transport.Interface { return a.tr.Interfaces() }

// OnLocalSubnet reports whether ip is on the subnet of a served interface.
func (a *Agent) OnLocalSubnet(ip netip.Addr) bool {
	for _, i := range a.tr.Interfaces() {
		if i.Addr.Masked().Contains(ip) {
			return true
		}
	}
	return false
}

// RateLimiter is a fixed-size table of token buckets keyed by source IP,
// as the agent uses for its own input: memory is constant whatever the
// number of sources.
type RateLimiter struct{ l *limiter }

// NewRateLimiter returns a limiter of rate tokens per second up to burst
// per source; a negative rate means unlimited.
func NewRateLimiter(rate, burst float64) *RateLimiter {
	return &RateLimiter{l: newLimiter(rate, burst)}
}

// Allow takes a token for ip, reporting false when none is left.
func (r *RateLimiter) Allow(ip netip.Addr) bool { return r.l.allow(ip) }

// OpenGroup is a target for DIRECT_GROUP broadcasts to the group name n
// on every interface, without resolving it: the Browser protocol sends its
// announcements to WG<1d> and WG<1e> that way, whoever owns them.
func (a *Agent) OpenGroup(n netbios.Name, path string) *Target {
	t := target{dest: n, group: true, display: `\\` + n.String()}
	t.max = maxPayload(path, true, a.cfg.Style)
	return &Target{t: t, path: path}
}

// Overhear makes the datagram service deliver datagrams sent to n although
// the agent does not own it (as group datagrams; nothing is registered or
// answered for n). The browse service listens to WG<1d>, WG<1e> and
// __MSBROWSE__<01> so, as a browser does, to collect announcements.
func (a *Agent) Overhear(n netbios.Name) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := map[netbios.Name]bool{n: true}
	if old := a.overheard.Load(); old != nil {
		for k := range *old {
			m[k] = true
		}
	}
	a.overheard.Store(&m)
}

// Receives reports whether the datagram service delivers writes sent to
// n here: one of the agent's active names, or a name a service overhears.
// A link delivers what it receives by the same rule, so an agent hears
// through it what it would hear on the sender's LAN.
func (a *Agent) Receives(n netbios.Name) bool { return a.OwnsName(n) || a.overhears(n) }

// overhears runs for every datagram to a name we do not own: no lock.
func (a *Agent) overhears(n netbios.Name) bool {
	m := a.overheard.Load()
	return m != nil && (*m)[n]
}

// OpenUnique is a target for DIRECT_UNIQUE datagrams to n at addr, without
// resolving it: replies go to where the request came from.
func (a *Agent) OpenUnique(n netbios.Name, addr netip.Addr, path string) *Target {
	return a.uniqueTarget(target{dest: n, addr: addr, self: a.isOurAddr(addr)}, path)
}

// OpenReply is a target for a reply to n, a name of the host that sent in,
// sent back the way in came. From a LAN, it is a DIRECT_UNIQUE datagram to
// in's UDP source, as OpenUnique. From the link (no arrival interface, and
// not from this host), that address is on another site, which may have no
// IP route to ours: the reply goes through the link to the agent host n
// when the link's directory knows it. The directory is asked from memory
// only: a service's handler runs on the router, which must not wait for a
// NATS request (nor for a broadcast resolution, which OpenName may do).
// Otherwise (a host without an agent the link has no relay for) the
// datagram goes to in's address, as before.
func (a *Agent) OpenReply(in *Inbound, n netbios.Name, path string) *Target {
	if in.Ifindex == 0 && in.Source.Base() != a.host.Base() && a.linkTarget(context.Background(), n, false) {
		return a.uniqueTarget(target{dest: n, link: true}, path)
	}
	return a.OpenUnique(n, in.Src.Addr(), path)
}

// uniqueTarget completes t, to a unique name, for writes to path.
func (a *Agent) uniqueTarget(t target, path string) *Target {
	t.display = `\\` + t.dest.String()
	t.max = maxPayload(path, false, a.cfg.Style)
	return &Target{t: t, path: path}
}
