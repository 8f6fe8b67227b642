//go:build !linux

package transport

import "errors"

// NewUDP is only implemented on Linux.
func NewUDP(UDPConfig) (Transport, error) {
	return nil, errors.New("transport: the UDP transport is implemented on Linux only")
}
