package names

import (
	"net/netip"
	"time"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Remove gives one name up (a master browser that loses an election
// releases WG<1d> and __MSBROWSE__<01>): a broadcast NAME RELEASE REQUEST
// on every interface if it was active, then it is forgotten.
func (s *Service) Remove(name netbios.Name) {
	s.mu.Lock()
	var e *Entry
	for i, o := range s.own {
		if o.Name == name {
			e = o
			s.own = append(s.own[:i:i], s.own[i+1:]...)
			break
		}
	}
	active := e != nil && (e.State == Active || e.State == Registering)
	if e != nil {
		e.State, e.Since = Released, time.Now()
	}
	s.mu.Unlock()
	if !active {
		return
	}
	for _, i := range s.tr.Interfaces() {
		s.send(nbns.Release(s.newID(), e.Name, s.entry(e, i.IP()), true), i.Index,
			netip.AddrPortFrom(i.Broadcast, transport.NamePort))
	}
}
