package names

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/nbns"
)

// Register claims our names on every interface not yet done: each name is
// broadcast three times, 250 ms apart (RFC 1002 §6); a negative response
// (ACT_ERR) from a node that owns a unique name puts it in Conflict. With a
// WINS server the names are also registered with it. Names become Active
// when no one objected. Register returns when the round is over (about
// 750 ms) or ctx ends.
func (s *Service) Register(ctx context.Context) {
	var todo []transport.Interface
	s.mu.Lock()
	for _, i := range s.tr.Interfaces() {
		if !s.registered[i.Index] {
			s.registered[i.Index] = true
			todo = append(todo, i)
		}
	}
	entries := append([]*Entry(nil), s.own...)
	s.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, e := range entries {
		if st := s.state(e); st == Conflict || st == Released || st == Delegated {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.registerOne(ctx, e, todo)
		}()
	}
	wg.Wait()
}

// Forget marks interfaces that are gone, so that they are registered again
// if they come back.
func (s *Service) Forget(present []transport.Interface) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[int]bool{}
	for _, i := range present {
		keep[i.Index] = true
	}
	for idx := range s.registered {
		if !keep[idx] {
			delete(s.registered, idx)
		}
	}
}

func (s *Service) state(e *Entry) State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.State
}

func (s *Service) registerOne(ctx context.Context, e *Entry, ifs []transport.Interface) {
	id, ch, done, err := s.addPending()
	if err != nil {
		return
	}
	ttl := s.ttlSeconds()
	t := time.NewTimer(0)
	defer t.Stop()
	for try := 0; try < BcastRetries; try++ {
		for _, i := range ifs {
			s.send(nbns.Registration(id, e.Name, ttl, s.entry(e, i.IP()), true), i.Index,
				netip.AddrPortFrom(i.Broadcast, transport.NamePort))
		}
		t.Reset(BcastRetry)
	wait:
		for {
			select {
			case <-ctx.Done():
				done()
				return
			case <-t.C:
				break wait
			case a := <-ch:
				if s.refused(e, a) {
					done()
					return
				}
			}
		}
		if st := s.state(e); st == Conflict || st == Released {
			// Given up meanwhile (a simultaneous claim, a conflict
			// demand, Release): no more tries.
			done()
			return
		}
	}
	if s.cfg.WINS.IsValid() && !e.Group {
		if !s.registerWINS(ctx, e) {
			done()
			return
		}
	}
	s.mu.Lock()
	if e.State == Registering {
		e.State, e.Since = Active, time.Now()
	}
	s.mu.Unlock()
	s.log.Info("name registered", "name", e.Name.String(), "group", e.Group)
	// A busy defender may answer after the three tries: a refusal that
	// arrives within LateRefusal still takes the name away, rather than
	// leaving two owners on the LAN.
	go func() {
		defer done()
		late := time.NewTimer(LateRefusal)
		defer late.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-late.C:
				return
			case a := <-ch:
				if s.refused(e, a) {
					return
				}
			}
		}
	}()
}

// refused reports whether answer a to our registration of e is a defence
// of the name, and records the conflict.
func (s *Service) refused(e *Entry, a answer) bool {
	p := a.p
	if p.Opcode() != nbns.OpRegistration || !p.Response() {
		return false
	}
	if rc := p.Rcode(); rc != nbns.RcodeActive && rc != nbns.RcodeConflict {
		return false
	}
	if e.Group {
		return false // group names are shared: nobody can defend them
	}
	s.setState(e, Conflict, a.src.Addr())
	return true
}

// registerWINS registers e with the WINS server (unicast, two tries of
// 1 s, waiting longer after a WACK). It reports false if the server refused.
// An unreachable server does not stop the broadcast registration.
func (s *Service) registerWINS(ctx context.Context, e *Entry) bool {
	ifs := s.tr.Interfaces()
	i, ok := transport.Route(ifs, s.cfg.WINS)
	if !ok {
		return true
	}
	id, ch, done, err := s.addPending()
	if err != nil {
		return true
	}
	defer done()
	dst := netip.AddrPortFrom(s.cfg.WINS, transport.NamePort)
	for try := 0; try < 2; try++ {
		s.send(nbns.Registration(id, e.Name, s.ttlSeconds(), s.entry(e, i.IP()), false), i.Index, dst)
		wait := time.NewTimer(time.Second)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				wait.Stop()
				return true
			case <-wait.C:
				waiting = false
			case a := <-ch:
				switch {
				case a.p.Opcode() == nbns.OpWACK:
					wait.Reset(5 * time.Second)
				case a.p.Opcode() == nbns.OpRegistration && a.p.Rcode() == 0:
					wait.Stop()
					return true
				case s.refused(e, a):
					wait.Stop()
					return false
				}
			}
		}
	}
	s.log.Warn("WINS server did not answer the registration", "server", s.cfg.WINS.String(), "name", e.Name.String())
	return true
}

// RefreshWINS re-registers our active unique names with the WINS server;
// the agent calls it every TTL/2 when WINS is configured.
func (s *Service) RefreshWINS(ctx context.Context) {
	if !s.cfg.WINS.IsValid() {
		return
	}
	i, ok := transport.Route(s.tr.Interfaces(), s.cfg.WINS)
	if !ok {
		return
	}
	for _, e := range s.Table() {
		if e.State != Active || e.Group {
			continue
		}
		p := nbns.Refresh(s.newID(), e.Name, s.ttlSeconds(), s.entry(&e, i.IP()), false)
		s.send(p, i.Index, netip.AddrPortFrom(s.cfg.WINS, transport.NamePort))
	}
}

// Release gives our active names up: one broadcast NAME RELEASE REQUEST per
// name and interface (and a unicast one to the WINS server).
func (s *Service) Release() {
	ifs := s.tr.Interfaces()
	s.stopOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	var rel []*Entry
	for _, e := range s.own {
		if e.State == Active || e.State == Registering {
			rel = append(rel, e)
			e.State, e.Since = Released, time.Now()
		}
	}
	s.mu.Unlock()
	for _, e := range rel {
		for _, i := range ifs {
			s.send(nbns.Release(s.newID(), e.Name, s.entry(e, i.IP()), true), i.Index,
				netip.AddrPortFrom(i.Broadcast, transport.NamePort))
		}
		if s.cfg.WINS.IsValid() {
			if i, ok := transport.Route(ifs, s.cfg.WINS); ok {
				s.send(nbns.Release(s.newID(), e.Name, s.entry(e, i.IP()), false), i.Index,
					netip.AddrPortFrom(s.cfg.WINS, transport.NamePort))
			}
		}
	}
}

// Add registers one more name on every current interface (later services
// use it: the Messenger's NAME<03>, a master browser's WG<1d>). It returns
// when the registration round is over; the name's state tells the outcome.
func (s *Service) Add(ctx context.Context, o Owned) Entry {
	s.mu.Lock()
	e := s.findLocked(o.Name)
	if e == nil {
		e = &Entry{Name: o.Name, Group: o.Group, State: Registering, Since: time.Now()}
		s.own = append(s.own, e)
	}
	s.mu.Unlock()
	s.registerOne(ctx, e, s.tr.Interfaces())
	s.mu.Lock()
	defer s.mu.Unlock()
	return *e
}
