package transport

import "log/slog"

// UDPConfig configures the real transport.
type UDPConfig struct {
	// Interfaces restricts the transport to these interface names; empty
	// means every up, non-loopback interface with an IPv4 address.
	Interfaces []string
	// Rescan is how often interfaces are re-read; 0 means 2 s.
	Logger *slog.Logger
	// Shared sets SO_REUSEADDR, so that Samba's nmbd can start while the
	// sockets are open (package samba then moves the agent beside it).
	// Sockets on 0.0.0.0 never take unicast from a socket bound to the
	// interface address, so sharing does not steal nmbd's traffic.
	Shared bool
}
