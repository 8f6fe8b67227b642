//go:build !linux

package agentproto

import (
	"errors"
	"net"
)

// ErrNoAgent is returned where the agent socket does not exist.
var ErrNoAgent = errors.New("the mailslot agent runs on Linux only")

// Listen is not supported on this platform.
func Listen(string) (*net.UnixListener, error) { return nil, errors.ErrUnsupported }
