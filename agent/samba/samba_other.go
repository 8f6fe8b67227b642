//go:build !linux

package samba

import (
	"errors"

	"github.com/mailslot/mailslot/agent/transport"
)

// Transport is only implemented on Linux.
type Transport struct {
	transport.Transport
	stats Stats
}

// Open is only implemented on Linux.
func Open(Config) (*Transport, error) {
	return nil, errors.New("samba: the network transport is implemented on Linux only")
}

// Mode is Owner.
func (*Transport) Mode() Mode { return Owner }

// Socket is empty.
func (*Transport) Socket() string { return "" }

// Connected is false.
func (*Transport) Connected() bool { return false }

// Generation is 0.
func (*Transport) Generation() uint64 { return 0 }

// Stats returns zero counters.
func (t *Transport) Stats() *Stats { return &t.stats }
