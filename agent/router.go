package agent

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mailslot/mailslot/wire/netbios"
)

// Handler handles the mailslot writes of one mailslot name. Handlers run on
// the agent's receive path: they must not block (queue and return).
type Handler interface {
	HandleMailslot(in *Inbound)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(in *Inbound)

// HandleMailslot calls f(in).
func (f HandlerFunc) HandleMailslot(in *Inbound) { f(in) }

// Router hands every received mailslot write to the handler registered for
// its mailslot path (case-insensitive), else to the local slots that
// registered for it. Future in-agent services (Messenger on MESSNGR, the
// browser on BROWSE) are handlers; future sources of writes (a NATS link,
// nmbd's unexpected-packet socket) call Dispatch. in.Data is only valid
// during the call.
type Router struct {
	a        *Agent
	mu       sync.RWMutex
	handlers map[string]Handler
	slots    map[string][]*sink
}

func newRouter(a *Agent) *Router {
	return &Router{a: a, handlers: map[string]Handler{}, slots: map[string][]*sink{}}
}

// Handle installs h for mailslot path (the part after `\MAILSLOT\`, e.g.
// "MESSNGR"); nil removes it. A handler replaces delivery to local slots.
func (r *Router) Handle(path string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h == nil {
		delete(r.handlers, pathKey(path))
		return
	}
	r.handlers[pathKey(path)] = h
}

// Dispatch routes one write; sources other than the datagram service
// (links to other networks) use it.
func (r *Router) Dispatch(in *Inbound) { r.dispatch(in) }

func (r *Router) dispatch(in *Inbound) {
	// Fold the path on the stack: map lookups with string(bytes) do not
	// allocate, and this runs for every datagram.
	var kb [128]byte
	key, ok := foldASCII(kb[:0], in.Path)
	r.mu.RLock()
	var (
		h     Handler
		sinks []*sink
	)
	if ok {
		h, sinks = r.handlers[string(key)], r.slots[string(key)]
	} else {
		k := pathKey(in.Path)
		h, sinks = r.handlers[k], r.slots[k]
	}
	delivered := false
	if h == nil {
		for _, s := range sinks {
			if s.accept(in) {
				delivered = true
			}
		}
	}
	r.mu.RUnlock()
	switch {
	case h != nil:
		// A copy for the handler: in itself then stays on the caller's
		// stack (no allocation per datagram delivered to slots).
		c := *in
		h.HandleMailslot(&c)
	case delivered:
		r.a.M.Delivered.Add(1)
	case len(sinks) == 0:
		r.a.M.NoSlot.Add(1)
		r.a.drops.note("no slot accepts remote messages for this name", in.Src.Addr())
	}
}

// foldASCII appends the upper-cased path to b; ok is false (and pathKey
// must be used) when the path is not plain ASCII or does not fit.
func foldASCII(b []byte, p string) ([]byte, bool) {
	if len(p) > cap(b) {
		return nil, false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 0x80:
			return nil, false
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '/':
			c = '\\'
		}
		b = append(b, c)
	}
	return b, true
}

// Delivery is one message for a local slot.
type Delivery struct {
	Path string
	From netbios.Name   // the sender's NetBIOS name (SOURCE_NAME)
	Addr netip.AddrPort // the sender's address
	Data []byte
}

// Source is the sender's name without padding or suffix.
func (d *Delivery) Source() string { return d.From.Base() }

// sink is one local slot's registration: a bounded queue, and optionally a
// way to hand a message to the slot at once.
type sink struct {
	path string
	nets []netip.Prefix
	ch   chan Delivery
	r    *Router

	// mu is held by whoever writes to the slot: the queue's writer while
	// it sends a batch, or accept while it tries direct. pending counts the
	// deliveries queued or being written from the queue; direct is only
	// tried when it is zero, so a message never overtakes a queued one.
	mu      sync.Mutex
	pending atomic.Int64
	direct  func(d Delivery) bool // set by SetDirect; under mu
}

// accept hands in to the slot if it takes messages from its source:
// directly when nothing is queued and the slot's socket has room, else
// through the queue. A full queue drops it (counted), never blocking the
// receive path.
func (s *sink) accept(in *Inbound) bool {
	if len(s.nets) > 0 && !inNetworks(s.nets, in.Src.Addr()) {
		s.r.a.M.Refused.Add(1)
		return false
	}
	d := Delivery{Path: in.Path, From: in.Source, Addr: in.Src, Data: in.Data}
	if s.pending.Load() == 0 && s.mu.TryLock() {
		ok := s.direct != nil && s.pending.Load() == 0 && s.direct(d)
		s.mu.Unlock()
		if ok {
			s.r.a.M.DeliveredDirect.Add(1)
			return true
		}
	}
	d.Data = append([]byte(nil), in.Data...)
	s.pending.Add(1)
	select {
	case s.ch <- d:
		return true
	default:
		s.pending.Add(-1)
		s.r.a.M.QueueFull.Add(1)
		s.r.a.drops.note("slot queue full", in.Src.Addr())
		return false
	}
}

// Subscription receives the network messages for one mailslot path, as a
// slot registered through the agent socket does.
type Subscription struct {
	C <-chan Delivery
	s *sink
}

// Subscribe registers a receiver for path, accepting only sources in nets
// (empty = any). It fails when MaxRegistrations are in use.
func (r *Router) Subscribe(path string, nets []netip.Prefix) (*Subscription, error) {
	s := &sink{path: pathKey(path), nets: nets, ch: make(chan Delivery, DefaultDeliveryQueue), r: r}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.slots {
		n += len(l)
	}
	if n >= MaxRegistrations {
		return nil, errTooMany
	}
	r.slots[s.path] = append(r.slots[s.path], s)
	return &Subscription{C: s.ch, s: s}, nil
}

// setDirect installs f, which must write one delivery to the slot without
// blocking and report whether it did; nil removes it.
func (sub *Subscription) setDirect(f func(d Delivery) bool) {
	sub.s.mu.Lock()
	sub.s.direct = f
	sub.s.mu.Unlock()
}

// sending runs f, which writes deliveries taken from the queue to the
// slot and returns how many, holding the slot's write lock; they are then
// no longer pending.
func (sub *Subscription) sending(f func() int) {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	sub.s.pending.Add(-int64(f()))
}

// Close removes the subscription.
func (sub *Subscription) Close() {
	r := sub.s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.slots[sub.s.path]
	for i, s := range l {
		if s == sub.s {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(r.slots, sub.s.path)
	} else {
		r.slots[sub.s.path] = l
	}
}
