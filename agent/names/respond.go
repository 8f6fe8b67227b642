package names

import (
	"net/netip"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Handle processes one packet that arrived on UDP 137. It never blocks on
// the network: answers are single unicast sends.
func (s *Service) Handle(pk *transport.Packet) {
	if len(pk.Data) > MaxPacket {
		s.C.Malformed.Add(1)
		return
	}
	p, err := nbns.Decode(pk.Data)
	if err != nil {
		s.C.Malformed.Add(1)
		return
	}
	if p.Response() {
		s.mu.Lock()
		w := s.pend[p.ID]
		s.mu.Unlock()
		if w == nil {
			s.conflictDemand(&p, pk)
			return
		}
		select {
		case w.ch <- answer{p: p, src: pk.Src}:
		default: // the waiter has enough answers
		}
		return
	}
	if len(p.Questions) != 1 {
		s.C.Unexpected.Add(1)
		return
	}
	q := p.Questions[0]
	switch p.Opcode() {
	case nbns.OpQuery:
		s.C.Queries.Add(1)
		switch q.Type {
		case nbns.TypeNB:
			s.answerQuery(&p, pk)
		case nbns.TypeNBSTAT:
			s.answerStatus(&p, pk)
		default:
			s.C.Unexpected.Add(1)
		}
	case nbns.OpRegistration:
		s.defend(&p, pk)
	case nbns.OpRelease:
		s.cache.forget(q.Name)
	case nbns.OpRefresh, nbns.OpMultiHomed:
		// Nothing to do for a B-node.
	default:
		s.C.Unexpected.Add(1)
	}
}

// conflictDemand handles an unsolicited NAME CONFLICT DEMAND (a
// registration response with RCODE CFT_ERR, RFC 1002 §4.2.8): the sender
// says a unique name of ours is owned elsewhere, and we give it up. Any
// other unsolicited response is only counted.
func (s *Service) conflictDemand(p *nbns.Packet, pk *transport.Packet) {
	if p.Opcode() != nbns.OpRegistration || p.Rcode() != nbns.RcodeConflict || len(p.Answers) == 0 || s.isOurAddr(pk.Src.Addr()) {
		s.C.Unexpected.Add(1)
		return
	}
	s.mu.Lock()
	e := s.findLocked(p.Answers[0].Name)
	s.mu.Unlock()
	if e == nil || e.Group {
		s.C.Unexpected.Add(1)
		return
	}
	s.setState(e, Conflict, pk.Src.Addr())
}

func (s *Service) iface(idx int) (transport.Interface, bool) {
	for _, i := range s.tr.Interfaces() {
		if i.Index == idx {
			return i, true
		}
	}
	return transport.Interface{}, false
}

// answerQuery answers a name query for an active name of ours with the
// address of the interface it came in on. Broadcast queries for other
// names get no answer (never a negative one); unicast queries without RD
// get NAM_ERR, as RFC 1002 §4.2.14 and Samba do.
func (s *Service) answerQuery(p *nbns.Packet, pk *transport.Packet) {
	name := p.Questions[0].Name
	s.mu.Lock()
	e := s.findLocked(name)
	active := e != nil && e.State == Active
	var own Entry
	if e != nil {
		own = *e
	}
	s.mu.Unlock()
	if !active {
		if !pk.Broadcast && p.Flags&nbns.FlagBroadcast == 0 && p.Flags&nbns.FlagRecursionDesired == 0 {
			s.send(nbns.NegativeQueryResponse(p.ID, name), pk.Ifindex, pk.Src)
		}
		return
	}
	i, ok := s.iface(pk.Ifindex)
	if !ok {
		return
	}
	s.C.Answers.Add(1)
	s.send(nbns.PositiveQueryResponse(p.ID, name, s.ttlSeconds(), s.entry(&own, i.IP())), pk.Ifindex, pk.Src)
}

// answerStatus answers a node status request for "*" or one of our names
// with our name table and the interface's MAC as the unit ID.
func (s *Service) answerStatus(p *nbns.Packet, pk *transport.Packet) {
	q := p.Questions[0].Name
	s.mu.Lock()
	mine := q.Raw == netbios.Wildcard.Raw
	var table []nbns.NodeName
	for _, e := range s.own {
		if e.Name.Raw == q.Raw {
			mine = true
		}
		if e.State != Active && e.State != Conflict {
			continue
		}
		f := nbns.NameActive | s.nodeFlags()
		if e.Group {
			f |= nbns.NBGroup
		}
		if e.State == Conflict {
			f |= nbns.NameConflict
		}
		table = append(table, nbns.NodeName{Name: e.Name.Raw, Flags: f})
	}
	s.mu.Unlock()
	if !mine || len(table) == 0 {
		return
	}
	i, ok := s.iface(pk.Ifindex)
	if !ok {
		return
	}
	s.C.StatusAnswers.Add(1)
	s.send(nbns.NodeStatusResponse(p.ID, q, table, i.MAC), pk.Ifindex, pk.Src)
}

// defend refuses another node's registration of a unique name we hold (or
// of a unique claim on our group name) with ACT_ERR (RFC 1002 §4.2.6).
//
// A unique name we are still registering is not ours yet, so RFC 1002
// does not defend it, and two hosts that start at the same instant would
// both keep it. Windows' NetBT cancels its own registration when it hears
// such a claim (so both lose); Samba's nmbd ignores it (so both keep).
// Ours is a tie-break that leaves exactly one owner: the lower IPv4
// address (ours on the arrival interface against the claimant's source)
// keeps registering and refuses the claim as an owner would; the higher
// one gives the name up (Conflict) without answering.
func (s *Service) defend(p *nbns.Packet, pk *transport.Packet) {
	name := p.Questions[0].Name
	theirGroup := false
	if len(p.Additional) > 0 && len(p.Additional[0].Addresses) > 0 {
		theirGroup = p.Additional[0].Addresses[0].Flags&nbns.NBGroup != 0
	}
	their := pk.Src.Addr()
	if s.isOurAddr(their) {
		return
	}
	i, ok := s.iface(pk.Ifindex)
	if !ok {
		return
	}
	s.mu.Lock()
	e := s.findLocked(name)
	var own Entry
	claim := e != nil && !(e.Group && theirGroup)
	defend := claim && e.State == Active
	racing := claim && e.State == Registering && !e.Group
	if racing && i.IP().Less(their) {
		defend, racing = true, false
	}
	if e != nil {
		own = *e
	}
	s.mu.Unlock()
	if racing {
		s.log.Warn("another host registers our name at the same time; the lower address keeps it", "name", name.String(), "from", their.String())
		s.setState(e, Conflict, their)
		return
	}
	if !defend {
		return
	}
	s.C.Defended.Add(1)
	s.log.Warn("defending our name against a registration", "name", name.String(), "from", their.String())
	s.send(nbns.Conflict(p.ID, name, s.entry(&own, i.IP())), pk.Ifindex, pk.Src)
}

func (s *Service) isOurAddr(a netip.Addr) bool {
	for _, i := range s.tr.Interfaces() {
		if i.IP() == a {
			return true
		}
	}
	return false
}
