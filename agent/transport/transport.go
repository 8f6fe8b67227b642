// Package transport is the agent's view of the network: a small interface
// (modelled on memberlist's Transport) that sends a UDP payload from port
// 137 or 138 of one interface, and delivers received packets with their
// arrival interface and destination address. Package memnet implements it
// in memory for tests; NewUDP implements it with real sockets.
package transport

import (
	"errors"
	"net"
	"net/netip"
)

// NetBIOS ports.
const (
	NamePort     = 137 // name service
	DatagramPort = 138 // datagram service
)

// Interface is one IPv4 interface the agent serves.
type Interface struct {
	Index     int
	Name      string
	Addr      netip.Prefix // the interface address with its network length, e.g. 192.0.2.11/24
	Broadcast netip.Addr   // the directed broadcast address, e.g. 192.0.2.255
	MAC       net.HardwareAddr
}

// IP is the interface's address.
func (i Interface) IP() netip.Addr { return i.Addr.Addr() }

// Packet is one received UDP datagram.
type Packet struct {
	Port      uint16         // the local port it arrived on: NamePort or DatagramPort
	Ifindex   int            // the arrival interface
	Src       netip.AddrPort // the sender
	Dst       netip.Addr     // the destination address: ours, or a broadcast address
	Broadcast bool           // Dst was a broadcast address
	// Relayed: the packet was handed over by the program that owns the
	// port (Samba's nmbd); Dst is unknown and nothing may be answered for
	// it, since it may be for that program's names.
	Relayed bool
	// Batched: the packet was offered to UDPConfig.Handle, and Flush
	// follows on the same goroutine once its receive batch is handled.
	Batched bool
	Data    []byte
}

// Transport moves NetBIOS packets. Implementations are safe for concurrent
// use.
type Transport interface {
	// Interfaces returns the interfaces currently served. The set may change
	// while the transport runs (interfaces that come and go). The slice is
	// shared: callers must not modify it.
	Interfaces() []Interface
	// WriteTo sends b from local port port (NamePort or DatagramPort) out of
	// interface ifindex to dst.
	WriteTo(b []byte, port uint16, ifindex int, dst netip.AddrPort) error
	// Packets returns the channel of received packets; it is closed by
	// Close. A receiver that falls behind loses packets, as a socket whose
	// buffer is full does.
	Packets() <-chan *Packet
	// Close stops the transport.
	Close() error
}

// ErrNoInterface is returned by WriteTo for an interface the transport does
// not serve (any more).
var ErrNoInterface = errors.New("transport: no such interface")

// Route picks the interface to reach dst: the one whose network contains it,
// else the first one. ok is false when there is no interface at all.
func Route(ifs []Interface, dst netip.Addr) (Interface, bool) {
	for _, i := range ifs {
		if i.Addr.Masked().Contains(dst) || i.Broadcast == dst {
			return i, true
		}
	}
	if len(ifs) == 0 {
		return Interface{}, false
	}
	return ifs[0], true
}

// DirectedBroadcast returns the broadcast address of prefix p.
func DirectedBroadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	if p.Bits() == 0 {
		host = ^uint32(0)
	}
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// BatchWriter is implemented by transports that send several datagrams to
// one destination with one system call (sendmmsg).
type BatchWriter interface {
	WriteBatch(bufs [][]byte, port uint16, ifindex int, dst netip.AddrPort) error
}
