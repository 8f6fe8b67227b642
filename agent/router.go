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

	// stagedMu guards staged: the sinks holding deliveries of the current
	// receive batch, written by Flush.
	stagedMu sync.Mutex
	staged   []*sink
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
func (r *Router) Dispatch(in *Inbound) { r.dispatch(in, false) }

// dispatch routes in. batched is true when the caller is a socket reader
// that calls flush after its receive batch: a slot's deliveries are then
// staged and written together (one system call and one wake-up of the slot
// per batch instead of per message).
func (r *Router) dispatch(in *Inbound, batched bool) {
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
			if s.accept(in, batched) {
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

// slotWriter writes deliveries to a slot's socket without ever waiting;
// its methods run under the sink's lock.
type slotWriter interface {
	// now writes d at once; false means it was not written (the socket is
	// full, or the slot is gone).
	now(d *Delivery) bool
	// stage encodes d for the next flush; false means the stage is full.
	stage(d *Delivery) bool
	// flush writes what is staged, as far as the socket has room, and
	// keeps the rest (left) for the queue's writer.
	flush() (written, left int)
}

// maxStaged bounds a sink's stage (one receive batch).
const maxStaged = 32

// sink is one local slot's registration: a bounded queue, and optionally a
// way to hand messages to the slot at once.
type sink struct {
	path string
	nets []netip.Prefix
	ch   chan Delivery
	r    *Router
	// kick wakes the queue's writer when staged deliveries are left that
	// the receive path could not write.
	kick chan struct{}

	// mu is held by whoever writes to the slot: the queue's writer while
	// it sends a batch, or the receive path while it writes directly or
	// stages and flushes. pending counts the deliveries staged, queued or
	// being written from the queue; the receive path writes (or stages)
	// only when every pending one is staged, so a message never overtakes
	// a queued one, and the queue's writer sends what is staged first.
	mu      sync.Mutex
	pending atomic.Int64
	w       slotWriter // set by setWriter; under mu
	nstaged int        // staged in w, not yet written; under mu
}

// accept hands in to the slot if it takes messages from its source:
// directly (or staged, when batched, until the receive batch's flush) when
// nothing is queued and the slot's socket has room, else through the
// queue. A full queue drops it (counted), never blocking the receive path.
func (s *sink) accept(in *Inbound, batched bool) bool {
	if len(s.nets) > 0 && !inNetworks(s.nets, in.Src.Addr()) {
		s.r.a.M.Refused.Add(1)
		return false
	}
	d := Delivery{Path: in.Path, From: in.Source, Addr: in.Src, Data: in.Data}
	if (batched || s.pending.Load() == 0) && s.mu.TryLock() {
		done := s.write(&d, batched)
		s.mu.Unlock()
		if done {
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

// write writes d at once, or stages it when batched; false means the
// caller queues it. Under s.mu.
func (s *sink) write(d *Delivery, batched bool) bool {
	if s.w == nil || s.pending.Load() != int64(s.nstaged) {
		return false // something is queued: d goes behind it
	}
	if !batched {
		if s.nstaged > 0 || !s.w.now(d) {
			return false
		}
		s.r.a.M.DeliveredDirect.Add(1)
		return true
	}
	if !s.w.stage(d) {
		s.flushLocked() // a full stage: write it, then stage d
		if s.nstaged > 0 || !s.w.stage(d) {
			return false
		}
	}
	s.nstaged++
	s.pending.Add(1)
	if s.nstaged == 1 {
		s.r.stagedMu.Lock()
		s.r.staged = append(s.r.staged, s)
		s.r.stagedMu.Unlock()
	}
	return true
}

// flushLocked writes the staged deliveries the slot's socket has room for;
// the queue's writer is woken for the rest. Under s.mu.
func (s *sink) flushLocked() {
	if s.nstaged == 0 || s.w == nil {
		return
	}
	written, left := s.w.flush()
	s.nstaged = left
	s.pending.Add(-int64(written))
	s.r.a.M.DeliveredDirect.Add(uint64(written))
	if left > 0 {
		s.wake()
	}
}

func (s *sink) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// flush writes the deliveries staged by dispatch(in, true) since the last
// flush. A slot whose lock the queue's writer holds is left to that
// writer, which sends what is staged before its queue: flush never waits
// for a slot.
func (r *Router) flush() {
	// Under stagedMu throughout: the list is reused (no allocation per
	// batch), and a stager takes stagedMu only for its first delivery of a
	// batch. flush only tries the sinks' locks, so the order of the two
	// locks cannot deadlock.
	r.stagedMu.Lock()
	defer r.stagedMu.Unlock()
	for i, s := range r.staged {
		if s.mu.TryLock() {
			s.flushLocked()
			s.mu.Unlock()
		} else {
			s.wake()
		}
		r.staged[i] = nil
	}
	r.staged = r.staged[:0]
}

// Subscription receives the network messages for one mailslot path, as a
// slot registered through the agent socket does.
type Subscription struct {
	C <-chan Delivery
	s *sink
}

// staged is ready when deliveries that the receive path staged are left for
// the queue's writer (see sending).
func (sub *Subscription) staged() <-chan struct{} { return sub.s.kick }

// Subscribe registers a receiver for path, accepting only sources in nets
// (empty = any). It fails when MaxRegistrations are in use.
func (r *Router) Subscribe(path string, nets []netip.Prefix) (*Subscription, error) {
	s := &sink{path: pathKey(path), nets: nets, ch: make(chan Delivery, DefaultDeliveryQueue), r: r, kick: make(chan struct{}, 1)}
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

// setWriter installs w, through which the receive path writes to the slot
// without the queue; nil removes it (and drops what it staged).
func (sub *Subscription) setWriter(w slotWriter) {
	sub.s.mu.Lock()
	sub.s.w = w
	if w == nil {
		sub.s.pending.Add(-int64(sub.s.nstaged))
		sub.s.nstaged = 0
	}
	sub.s.mu.Unlock()
}

// sending runs f, which first writes the staged deliveries the receive
// path left (staged of them, possibly none), then deliveries taken from
// the queue, and returns how many it took from the queue; it holds the
// slot's write lock. All of them are then no longer pending.
func (sub *Subscription) sending(f func(staged int) int) {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	staged := sub.s.nstaged
	sub.s.nstaged = 0
	sub.s.pending.Add(-int64(staged + f(staged)))
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
