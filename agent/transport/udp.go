package transport

import "log/slog"

// UDPConfig configures the real transport.
type UDPConfig struct {
	// Interfaces restricts the transport to these interface names; empty
	// means every up, non-loopback interface with an IPv4 address.
	Interfaces []string
	// Rescan is how often interfaces are re-read; 0 means 2 s.
	Logger *slog.Logger
}
