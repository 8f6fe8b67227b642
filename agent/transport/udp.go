package transport

import (
	"log/slog"
	"net/netip"
)

// UDPConfig configures the real transport.
type UDPConfig struct {
	// Interfaces restricts the transport to these interface names; empty
	// means every up, non-loopback interface with an IPv4 address.
	Interfaces []string
	Logger     *slog.Logger
	// Shared sets SO_REUSEADDR, so that Samba's nmbd can start while the
	// sockets are open (package samba then moves the agent beside it).
	// Sockets on 0.0.0.0 never take unicast from a socket bound to the
	// interface address, so sharing does not steal nmbd's traffic.
	Shared bool
	// Admit, when set, is asked for every received packet's source before
	// the packet is copied and queued: a flood from one source is dropped
	// at the socket and cannot crowd the queue (the agent's per-source rate
	// limit).
	Admit func(src netip.Addr) bool
	// Handle, when set, is offered every admitted packet on the socket's
	// reading goroutine, before it is copied and queued. It returns true
	// when it has handled the packet; p and p.Data are only valid during
	// the call. Handling where the packet is read saves the channel
	// hand-off and a goroutine wake-up per packet (the agent handles
	// mailslot datagrams this way); it must not block.
	Handle func(p *Packet) bool
	// Flush, when set, is called on the reading goroutine after the
	// packets of one receive batch (one recvmmsg) were offered to Handle,
	// which may then stage its output and write it once per batch.
	Flush func()
	// Privileged, when set, runs open, which creates and binds one
	// interface's sockets (ports below 1024, SO_BINDTODEVICE). The agent
	// command passes the one thread that keeps CAP_NET_BIND_SERVICE after
	// dropping root, so that interfaces appearing later can be bound.
	// nil runs open directly.
	Privileged func(open func() error) error
}
