package natslink

import (
	"context"
	"encoding/json"
	"net/netip"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Writes to a host that runs no agent, on another subnet: the requester's
// mailslot.<WG>.who.<NAME> reaches every agent; a gateway that resolves
// NAME on its own LAN answers with a relay announcement (Relay true, its
// own id); the requester then publishes the write on
// mailslot.<WG>.relay.<ID>, and that agent sends it to the host as a
// DIRECT_UNIQUE datagram with the original source name.

const (
	relayTTL      = time.Minute // a relay answer is reused this long
	maxRelays     = 1024
	whoConcurrent = 16 // LAN resolutions for who requests at once; more are dropped
	whoResolve    = time.Second
)

func relaySubject(wg, id string) string { return string(appendSubject(nil, wg, kindRelay, id)) }

// relayTable maps host names to the agent that relays for them, bounded.
type relayTable struct {
	mu sync.Mutex
	m  map[string]relayEntry
}

type relayEntry struct {
	id string
	at time.Time
}

// get returns the relay of host name; it runs for every write to a host
// through the link, so it takes the name as bytes (no allocation).
func (r *relayTable) get(name []byte) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[string(name)]
	if !ok {
		return "", false
	}
	if time.Since(e.at) > relayTTL {
		delete(r.m, string(name))
		return "", false
	}
	return e.id, true
}

func (r *relayTable) put(name, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]relayEntry{}
	}
	if _, ok := r.m[name]; !ok && len(r.m) >= maxRelays {
		for k, e := range r.m { // drop the expired, else refuse
			if time.Since(e.at) > relayTTL {
				delete(r.m, k)
			}
		}
		if len(r.m) >= maxRelays {
			return
		}
	}
	r.m[name] = relayEntry{id: id, at: time.Now()}
}

// onWho answers for our own name at once, and for a host of one of our
// subnets without an agent when we are that subnet's gateway and can
// resolve it there.
func (l *Link) onWho(msg *nats.Msg) {
	if msg.Reply == "" {
		return
	}
	tok := msg.Subject[len(whoSubject(l.wg, "")):]
	name, err := untoken(tok)
	if err != nil {
		return
	}
	if name == l.host.Base() {
		if b, err := json.Marshal(l.self(false)); err == nil {
			msg.Respond(b)
		}
		return
	}
	n, err := netbios.New(name, netbios.Workstation)
	if err != nil || l.dir.hasName(name) || !l.limit.allow("who") {
		return // an agent answers for its own host
	}
	select {
	case l.whoSem <- struct{}{}:
	default:
		l.M.RateLimited.Add(1)
		return
	}
	go func() {
		defer func() { <-l.whoSem }()
		ctx, cancel := context.WithTimeout(context.Background(), whoResolve)
		defer cancel()
		ip, ok := l.a.ResolveLAN(ctx, n)
		if !ok || l.dir.isAgentAddr(ip) || !l.gatewayOf(ip) {
			return
		}
		a := l.self(false)
		a.Name, a.Relay, a.Users = name, true, nil
		if b, err := json.Marshal(a); err == nil {
			msg.Respond(b)
		}
	}()
}

// gatewayOf reports whether we are the gateway of the subnet of ip.
func (l *Link) gatewayOf(ip netip.Addr) bool {
	for _, i := range l.a.Interfaces() {
		if i.Addr.Masked().Contains(ip) {
			return l.gateway(i.Index)
		}
	}
	return false
}

// relay takes a write for a host without an agent on one of our subnets.
func (l *Link) relay(m *Message, in *agent.Inbound) {
	if m.Dest.Suffix() != netbios.Workstation {
		l.M.Malformed.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), whoResolve)
	defer cancel()
	ip, ok := l.a.ResolveLAN(ctx, m.Dest) // a cache hit: we answered who
	if !ok {
		l.M.Malformed.Add(1)
		return
	}
	in.Group = false
	if err := l.a.RelayUnique(in, m.DgramID, ip); err == nil {
		l.M.Relayed.Add(1)
	}
}
