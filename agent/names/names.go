// Package names is the agent's NetBIOS name service (RFC 1001/1002, B-node
// with optional WINS): it registers the host's names by broadcast, defends
// its unique names, answers name queries and node status requests for the
// names it owns, releases them on shutdown, and resolves other hosts' names
// (own names, static entries, cache, WINS, broadcast query, DNS last).
//
// The service does not own sockets: the agent hands it every packet that
// arrives on UDP 137 (Handle) and it sends through a transport.Transport.
package names

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// RFC 1002 §6 broadcast timing: three tries, 250 ms apart.
const (
	BcastRetries = 3
	BcastRetry   = 250 * time.Millisecond
	// LateRefusal is how long after registration a refusal is still
	// honoured (a loaded defender, such as a busy nmbd, answers late).
	LateRefusal = 5 * time.Second
)

// Defaults.
const (
	DefaultTTL       = 259200 * time.Second // what we announce (Samba: 3 days)
	DefaultCacheSize = 1024
	MaxCacheTTL      = 10 * time.Minute // Windows' NetBT cache timeout
	NegativeCacheTTL = 5 * time.Second  // a failed lookup is not retried on the wire sooner
	maxPending       = 256              // outstanding queries
	// MaxPacket bounds what Handle decodes: the RFC limits name service
	// packets to 576 bytes; a node status answer with many names is larger,
	// so allow some room, but never decode 64 KiB of junk.
	MaxPacket = 2048
)

// State is the state of one of our names.
type State int

const (
	Registering State = iota
	Active
	Conflict
	Released
)

func (s State) String() string {
	switch s {
	case Registering:
		return "registering"
	case Active:
		return "active"
	case Conflict:
		return "conflict"
	case Released:
		return "released"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Owned is a name the service registers.
type Owned struct {
	Name  netbios.Name
	Group bool
}

// Entry describes one of our names.
type Entry struct {
	Name     netbios.Name
	Group    bool
	State    State
	Defender netip.Addr // who refused the registration (Conflict)
	Since    time.Time
}

// Static is a fixed name to address mapping (lmhosts style). A Name with
// suffix 0x00 also answers lookups of the other suffixes of that base name.
type Static struct {
	Name netbios.Name
	Addr netip.Addr
}

// Config configures a Service.
type Config struct {
	Transport transport.Transport
	Names     []Owned
	TTL       time.Duration // announced TTL; 0 = DefaultTTL
	WINS      netip.Addr    // optional WINS server (unicast registration and queries)
	Static    []Static
	CacheSize int // resolver cache entries; 0 = DefaultCacheSize
	// LookupDNS is the last resort of Resolve; nil disables DNS.
	LookupDNS func(ctx context.Context, host string) ([]netip.Addr, error)
	Logger    *slog.Logger
}

// Counters are the service's statistics.
type Counters struct {
	Malformed, Unexpected, Queries, Answers, StatusAnswers, Defended, Conflicts atomic.Uint64
}

// Service is a running name service.
type Service struct {
	cfg  Config
	tr   transport.Transport
	log  *slog.Logger
	C    Counters
	mu   sync.Mutex
	own  []*Entry
	pend map[uint16]*pending
	// registered records the interfaces our names were registered on.
	registered map[int]bool
	cache      cache
	rngMu      sync.Mutex
	rng        *rand.Rand
	stop       chan struct{} // closed by Release
	stopOnce   sync.Once
}

type pending struct {
	ch chan answer
}

type answer struct {
	p   nbns.Packet
	src netip.AddrPort
}

// New returns a service; nothing is sent until Register.
func New(cfg Config) *Service {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, tr: cfg.Transport, log: cfg.Logger, pend: map[uint16]*pending{},
		registered: map[int]bool{}, cache: cache{max: cfg.CacheSize, m: map[netbios.Name]cacheEntry{}},
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), stop: make(chan struct{})}
	now := time.Now()
	for _, o := range cfg.Names {
		s.own = append(s.own, &Entry{Name: o.Name, Group: o.Group, State: Registering, Since: now})
	}
	return s
}

// Table returns our names and their states.
func (s *Service) Table() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, len(s.own))
	for i, e := range s.own {
		out[i] = *e
	}
	return out
}

// Owns reports whether name is one of our names that is registered (or
// being registered) and not lost to a conflict, and whether it is a group.
func (s *Service) Owns(name netbios.Name) (group, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.findLocked(name); e != nil && (e.State == Active || e.State == Registering) {
		return e.Group, true
	}
	return false, false
}

func (s *Service) findLocked(name netbios.Name) *Entry {
	for _, e := range s.own {
		if e.Name == name {
			return e
		}
	}
	return nil
}

func (s *Service) setState(e *Entry, st State, defender netip.Addr) {
	s.mu.Lock()
	changed := e.State != st
	e.State, e.Defender = st, defender
	if changed {
		e.Since = time.Now()
	}
	s.mu.Unlock()
	if changed && st == Conflict {
		s.C.Conflicts.Add(1)
		s.log.Error("name conflict: another host defends this name; giving it up", "name", e.Name.String(), "defender", defender.String())
	}
}

func (s *Service) newID() uint16 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return uint16(s.rng.Uint32())
}

// addPending allocates a transaction ID whose answers go to the returned
// channel until done is called.
func (s *Service) addPending() (uint16, chan answer, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pend) >= maxPending {
		return 0, nil, nil, errors.New("names: too many queries in flight")
	}
	for {
		id := s.newID()
		if _, busy := s.pend[id]; busy {
			continue
		}
		p := &pending{ch: make(chan answer, 16)}
		s.pend[id] = p
		return id, p.ch, func() {
			s.mu.Lock()
			delete(s.pend, id)
			s.mu.Unlock()
		}, nil
	}
}

func (s *Service) send(p *nbns.Packet, ifindex int, dst netip.AddrPort) {
	b, err := p.Append(nil)
	if err != nil {
		s.log.Warn("encoding a name service packet", "err", err)
		return
	}
	if err := s.tr.WriteTo(b, transport.NamePort, ifindex, dst); err != nil {
		s.log.Debug("sending a name service packet", "to", dst.String(), "err", err)
	}
}

func (s *Service) ttlSeconds() uint32 { return uint32(s.cfg.TTL / time.Second) }

// nodeFlags is our NB_FLAGS owner type: B without WINS, H with it.
func (s *Service) nodeFlags() uint16 {
	if s.cfg.WINS.IsValid() {
		return 0x6000
	}
	return 0
}

func (s *Service) entry(e *Entry, ip netip.Addr) nbns.AddrEntry {
	a := nbns.Entry(e.Group, ip)
	a.Flags |= s.nodeFlags()
	return a
}
