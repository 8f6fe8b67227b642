// Package memnet is an in-memory network for testing the agent: hosts with
// interfaces on named broadcast segments, unicast and broadcast delivery,
// and knobs for loss, duplication and reordering. It uses only channels and
// mutexes, so tests can run it inside a testing/synctest bubble and control
// time completely.
package memnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mailslot/mailslot/agent/transport"
)

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// QueueLen is each host's receive queue; packets beyond it are dropped, as a
// full socket buffer drops them.
const QueueLen = 4096

// Network is a set of broadcast segments.
type Network struct {
	mu      sync.Mutex
	rng     *rand.Rand
	hosts   []*Host
	nextIdx int
	// fault injection, all probabilities in [0,1]
	loss, dup, reorder float64
	held               []delivery // packets held back for reordering
	filter             func(from string, p *transport.Packet) bool
}

type delivery struct {
	to *Host
	p  transport.Packet
}

// New returns an empty network whose faults are drawn from seed.
func New(seed uint64) *Network {
	return &Network{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), nextIdx: 1}
}

// SetFaults sets the probability that a delivery is lost, duplicated, or
// held back and delivered after the next one (reordered).
func (n *Network) SetFaults(loss, dup, reorder float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loss, n.dup, n.reorder = loss, dup, reorder
}

// SetFilter installs f, called for every delivery with the sending host's
// name; returning false drops the packet. nil removes it.
func (n *Network) SetFilter(f func(from string, p *transport.Packet) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.filter = f
}

// Host is one machine on the network; it implements transport.Transport.
type Host struct {
	net  *Network
	name string
	ifs  []iface
	// snap is what Interfaces returns, rebuilt when ifs changes: the
	// agent asks for every datagram, as with the UDP transport.
	snap   atomic.Pointer[[]transport.Interface]
	ch     chan *transport.Packet
	closed bool
	// Dropped counts packets lost because the queue was full.
	dropped int
}

type iface struct {
	transport.Interface
	segment string
}

// Host adds a host.
func (n *Network) Host(name string) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := &Host{net: n, name: name, ch: make(chan *transport.Packet, QueueLen)}
	n.hosts = append(n.hosts, h)
	return h
}

// AddInterface attaches h to segment with address addr (e.g.
// 192.0.2.11/24) and returns the new interface.
func (h *Host) AddInterface(segment string, addr netip.Prefix) transport.Interface {
	n := h.net
	n.mu.Lock()
	defer n.mu.Unlock()
	i := transport.Interface{Index: n.nextIdx, Name: fmt.Sprintf("mem%d", n.nextIdx), Addr: addr,
		Broadcast: transport.DirectedBroadcast(addr),
		MAC:       net.HardwareAddr{0x02, 0, 0, 0, byte(n.nextIdx >> 8), byte(n.nextIdx)}}
	n.nextIdx++
	h.ifs = append(h.ifs, iface{Interface: i, segment: segment})
	h.snapshotLocked()
	return i
}

// snapshotLocked rebuilds h.snap; the network's lock is held.
func (h *Host) snapshotLocked() {
	out := make([]transport.Interface, len(h.ifs))
	for k, i := range h.ifs {
		out[k] = i.Interface
	}
	h.snap.Store(&out)
}

// RemoveInterface detaches the interface with index idx.
func (h *Host) RemoveInterface(idx int) {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	for k, i := range h.ifs {
		if i.Index == idx {
			h.ifs = append(h.ifs[:k], h.ifs[k+1:]...)
			h.snapshotLocked()
			return
		}
	}
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Interfaces implements transport.Transport. The slice is shared: callers
// must not modify it.
func (h *Host) Interfaces() []transport.Interface {
	if p := h.snap.Load(); p != nil {
		return *p
	}
	return nil
}

// Packets implements transport.Transport.
func (h *Host) Packets() <-chan *transport.Packet { return h.ch }

// Dropped returns how many packets h lost to a full queue.
func (h *Host) Dropped() int {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	return h.dropped
}

// Close implements transport.Transport.
func (h *Host) Close() error {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.ch)
	}
	return nil
}

// WriteTo implements transport.Transport: a broadcast address reaches every
// interface on the segment (the sender's own included, as Linux loops
// broadcasts back), a unicast address the interface that has it.
func (h *Host) WriteTo(b []byte, port uint16, ifindex int, dst netip.AddrPort) error {
	n := h.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if h.closed {
		return net.ErrClosed
	}
	var from *iface
	for k := range h.ifs {
		if h.ifs[k].Index == ifindex {
			from = &h.ifs[k]
		}
	}
	if from == nil {
		return transport.ErrNoInterface
	}
	bcast := dst.Addr() == from.Broadcast || dst.Addr() == limitedBroadcast
	for _, to := range n.hosts {
		for _, ti := range to.ifs {
			if ti.segment != from.segment || (!bcast && ti.IP() != dst.Addr()) {
				continue
			}
			p := transport.Packet{Port: dst.Port(), Ifindex: ti.Index, Src: netip.AddrPortFrom(from.IP(), port),
				Dst: dst.Addr(), Broadcast: bcast, Data: append([]byte(nil), b...)}
			n.deliverLocked(h.name, to, p)
		}
	}
	return nil
}

func (n *Network) deliverLocked(from string, to *Host, p transport.Packet) {
	if n.filter != nil && !n.filter(from, &p) {
		return
	}
	if n.loss > 0 && n.rng.Float64() < n.loss {
		return
	}
	copies := 1
	if n.dup > 0 && n.rng.Float64() < n.dup {
		copies = 2
	}
	if n.reorder > 0 && n.rng.Float64() < n.reorder {
		n.held = append(n.held, delivery{to, p})
		return
	}
	for i := 0; i < copies; i++ {
		to.enqueueLocked(p)
	}
	held := n.held
	n.held = nil
	for _, d := range held {
		d.to.enqueueLocked(d.p)
	}
}

func (h *Host) enqueueLocked(p transport.Packet) {
	if h.closed {
		return
	}
	q := p
	q.Data = append([]byte(nil), p.Data...)
	select {
	case h.ch <- &q:
	default:
		h.dropped++
	}
}
