package natslink

import (
	"github.com/mailslot/mailslot/agent"
)

// Replies of hosts without an agent. A gateway's rebroadcast, and a write
// it relays to a host without an agent, carry the gateway's address as
// their UDP source and the original sender's name as SOURCE_NAME. A host
// that answers sends a DIRECT_UNIQUE datagram for that name to that
// address (nmbd's GetBackupListResponse goes to the UDP source of the
// request): it reaches the gateway, which does not own the name. When the
// directory knows the name as held by an agent of another subnet
// (agentOf), the gateway forwards the datagram to it on
// mailslot.<WG>.host.<HOST>, as a \\HOST write with the replier's own name
// and address, instead of answering DESTINATION NAME NOT PRESENT.

// Defaults of the forwarding limit (see Config.RateForward).
const (
	DefaultRateForward  = 1000 // forwarded datagrams per second per LAN source address
	DefaultBurstForward = 1000
)

// Forward implements agent.Link.
func (l *Link) Forward(in *agent.Inbound, id uint16) bool {
	// Only a subnet's gateway takes LAN traffic of hosts without an agent
	// into NATS (it is also the one whose address the replies carry), and
	// never what a linked agent sent: an agent reaches the others through
	// the link itself, and whatever the link puts on a LAN comes from a
	// linked agent's address.
	to, ok := l.agentOf(in.Dest)
	if !ok || l.onOurLAN(to) || in.Ifindex == 0 || !l.gateway(in.Ifindex) || l.dir.isAgentAddr(in.Src.Addr()) {
		return false
	}
	src := in.Src.Addr().As16()
	if !l.fwdLimit.allow(string(src[:])) {
		// Taken and dropped: an error per packet would only answer a flood.
		l.M.RateLimited.Add(1)
		return true
	}
	if l.seen.Seen(MessageID(in.Source, in.Dest, id, in.Path, in.Data), 0, false) {
		l.M.Duplicates.Add(1)
		return true
	}
	m := Message{Source: in.Source, Addr: in.Src, Path: in.Path, Dest: in.Dest, DgramID: id, Data: in.Data}
	var sb [subjectBuf]byte
	if l.publish(appendSubject(sb[:0], l.wg, kindHost, to.Name), &m) != nil {
		return false // the link is down: the name is not reachable, as without it
	}
	l.M.Forwarded.Add(1)
	return true
}
