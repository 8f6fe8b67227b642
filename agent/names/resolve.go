package names

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Answer is the result of a name resolution.
type Answer struct {
	Name   netbios.Name
	Addrs  []netip.Addr
	Group  bool
	Source string // "self", "static", "cache", "wins", "broadcast" or "dns"
}

// ErrNotFound is returned when no source knows the name.
var ErrNotFound = errors.New("names: name not found")

// Resolve finds the addresses of name: our own names, static entries, the
// cache, the WINS server, a broadcast query on every interface (three tries
// 250 ms apart), then DNS for suffix 0x00 names. It takes at most what ctx
// allows; without a deadline, about 1 s plus DNS.
func (s *Service) Resolve(ctx context.Context, name netbios.Name) (Answer, error) {
	return s.resolve(ctx, name, false)
}

// Lookup is Resolve that, after a broadcast query, waits out the retry
// interval to collect every responder (the members of a group name), and
// does not use the cache.
func (s *Service) Lookup(ctx context.Context, name netbios.Name) (Answer, error) {
	return s.resolve(ctx, name, true)
}

func (s *Service) resolve(ctx context.Context, name netbios.Name, gather bool) (Answer, error) {
	if a, ok := s.self(name); ok {
		return a, nil
	}
	if a, ok := s.static(name); ok {
		return a, nil
	}
	if !gather {
		if a, ok, neg := s.cache.get(name); ok {
			if neg {
				return Answer{}, fmt.Errorf("%w: %s (cached failure)", ErrNotFound, name)
			}
			return a, nil
		}
	}
	if s.cfg.WINS.IsValid() {
		if a, ok := s.query(ctx, name, false, false); ok {
			a.Source = "wins"
			s.cache.put(a, a.ttl)
			return a.Answer, nil
		}
	}
	if a, ok := s.query(ctx, name, true, gather); ok {
		a.Source = "broadcast"
		s.cache.put(a, a.ttl)
		return a.Answer, nil
	}
	if s.cfg.LookupDNS != nil && name.Suffix() == netbios.Workstation && ctx.Err() == nil {
		addrs, err := s.cfg.LookupDNS(ctx, strings.ToLower(name.Base()))
		var v4 []netip.Addr
		for _, a := range addrs {
			if a.Unmap().Is4() {
				v4 = append(v4, a.Unmap())
			}
		}
		if err == nil && len(v4) > 0 {
			a := Answer{Name: name, Addrs: v4, Source: "dns"}
			s.cache.put(timedAnswer{a, MaxCacheTTL}, MaxCacheTTL)
			return a, nil
		}
	}
	if ctx.Err() == nil {
		s.cache.putNegative(name)
	}
	return Answer{}, fmt.Errorf("%w: %s", ErrNotFound, name)
}

func (s *Service) self(name netbios.Name) (Answer, bool) {
	s.mu.Lock()
	e := s.findLocked(name)
	ok := e != nil && (e.State == Active || e.State == Delegated)
	group := ok && e.Group
	s.mu.Unlock()
	if !ok {
		return Answer{}, false
	}
	a := Answer{Name: name, Group: group, Source: "self"}
	for _, i := range s.tr.Interfaces() {
		a.Addrs = append(a.Addrs, i.IP())
	}
	return a, len(a.Addrs) > 0
}

func (s *Service) static(name netbios.Name) (Answer, bool) {
	a := Answer{Name: name, Source: "static"}
	for _, st := range s.cfg.Static {
		if st.Name == name || (st.Name.Suffix() == 0 && st.Name.Base() == name.Base() && st.Name.Scope == name.Scope) {
			a.Addrs = append(a.Addrs, st.Addr)
		}
	}
	return a, len(a.Addrs) > 0
}

type timedAnswer struct {
	Answer
	ttl time.Duration
}

// query asks for name by broadcast on every interface, or by unicast to the
// WINS server, three times 250 ms apart, and returns the first positive
// answer (or all of them with gather).
func (s *Service) query(ctx context.Context, name netbios.Name, bcast, gather bool) (timedAnswer, bool) {
	id, ch, done, err := s.addPending()
	if err != nil {
		return timedAnswer{}, false
	}
	defer done()
	send := func() {
		ifs := s.tr.Interfaces()
		if !bcast {
			if i, ok := transport.Route(ifs, s.cfg.WINS); ok {
				s.send(nbns.NameQuery(id, name, false), i.Index, netip.AddrPortFrom(s.cfg.WINS, transport.NamePort))
			}
			return
		}
		for _, i := range ifs {
			s.send(nbns.NameQuery(id, name, true), i.Index, netip.AddrPortFrom(i.Broadcast, transport.NamePort))
		}
	}
	var (
		res   timedAnswer
		found bool
		t     = time.NewTimer(0)
	)
	defer t.Stop()
	res.Name = name
	for try := 0; try < BcastRetries; try++ {
		send()
		t.Reset(BcastRetry)
	wait:
		for {
			select {
			case <-ctx.Done():
				return res, found
			case <-t.C:
				break wait
			case a := <-ch:
				p := a.p
				if p.Opcode() != nbns.OpQuery || len(p.Answers) == 0 {
					continue
				}
				if p.Rcode() != nbns.RcodeOK {
					if !bcast && p.Rcode() == nbns.RcodeName {
						return res, found // WINS says no: fall through to broadcast
					}
					continue
				}
				rr := p.Answers[0]
				if rr.Type != nbns.TypeNB || rr.Name != name {
					continue
				}
				for _, e := range rr.Addresses {
					res.Group = res.Group || e.Flags&nbns.NBGroup != 0
					if !contains(res.Addrs, e.IP) {
						res.Addrs = append(res.Addrs, e.IP)
					}
				}
				ttl := time.Duration(rr.TTL) * time.Second
				if ttl == 0 || ttl > MaxCacheTTL {
					ttl = MaxCacheTTL
				}
				if !found || ttl < res.ttl {
					res.ttl = ttl
				}
				found = len(res.Addrs) > 0
				if found && !gather {
					return res, true
				}
			}
		}
		if found {
			return res, true
		}
	}
	return res, found
}

func contains(l []netip.Addr, a netip.Addr) bool {
	for _, x := range l {
		if x == a {
			return true
		}
	}
	return false
}

// NodeStatus asks the host at ip for its name table (what nbtscan and
// "nmblookup -A" do): a unicast request for "*", two tries 500 ms apart.
func (s *Service) NodeStatus(ctx context.Context, ip netip.Addr) (*nbns.NodeStatus, error) {
	i, ok := transport.Route(s.tr.Interfaces(), ip)
	if !ok {
		return nil, errors.New("names: no interface")
	}
	id, ch, done, err := s.addPending()
	if err != nil {
		return nil, err
	}
	defer done()
	t := time.NewTimer(0)
	defer t.Stop()
	for try := 0; try < 2; try++ {
		s.send(nbns.NodeStatusRequest(id, netbios.Wildcard), i.Index, netip.AddrPortFrom(ip, transport.NamePort))
		t.Reset(500 * time.Millisecond)
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-t.C:
				break wait
			case a := <-ch:
				if len(a.p.Answers) > 0 && a.p.Answers[0].Status != nil {
					return a.p.Answers[0].Status, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("%w: no node status answer from %v", ErrNotFound, ip)
}

// cache is the resolver cache: bounded, with per-entry expiry.
type cache struct {
	mu  sync.Mutex
	max int
	m   map[netbios.Name]cacheEntry
}

type cacheEntry struct {
	a       Answer
	neg     bool
	expires time.Time
}

func (c *cache) get(n netbios.Name) (Answer, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[n]
	if !ok {
		return Answer{}, false, false
	}
	if time.Now().After(e.expires) {
		delete(c.m, n)
		return Answer{}, false, false
	}
	a := e.a
	a.Source = "cache"
	return a, true, e.neg
}

func (c *cache) put(a timedAnswer, ttl time.Duration) {
	c.store(a.Name, cacheEntry{a: a.Answer, expires: time.Now().Add(ttl)})
}

func (c *cache) putNegative(n netbios.Name) {
	c.store(n, cacheEntry{neg: true, expires: time.Now().Add(NegativeCacheTTL)})
}

func (c *cache) store(n netbios.Name, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[n]; !ok && len(c.m) >= c.max {
		now := time.Now()
		for k, v := range c.m {
			if now.After(v.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m { // still full: evict an arbitrary entry
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[n] = e
}

func (c *cache) forget(n netbios.Name) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, n)
}

// Len returns the number of cached entries.
func (s *Service) CacheLen() int {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return len(s.cache.m)
}
