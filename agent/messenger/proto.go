//go:build linux

package messenger

import (
	"context"
	"errors"
	"net"

	"github.com/mailslot/mailslot/internal/jsonsock"
)

// The local protocol between the agent's Messenger service and the users'
// programs (mailslot messenger, net send, messages): JSON documents, one
// per SOCK_SEQPACKET message, on @mailslot/<namespace>/messenger. The
// socket is bound by the agent while root, so clients can check it is the
// agent; the agent learns each client's uid from the kernel (SO_PEERCRED),
// which decides the From of what it sends and the popups it may see.

// MaxFrame bounds one message on the socket.
const MaxFrame = jsonsock.MaxFrame

// Request ops.
const (
	OpSubscribe = "subscribe" // stream the popups for me (and register USER<03>)
	OpHistory   = "history"   // the popups I may see
	OpSend      = "send"      // net send
	OpStats     = "stats"     // the counters
)

// Request is a client's message.
type Request struct {
	Op   string `json:"op"`
	To   string `json:"to,omitempty"`   // send: NAME, "*", "/domain" or "/domain:WG"
	Text string `json:"text,omitempty"` // send
}

// Reply is the agent's message: the answer to a request, or (after a
// subscribe) one popup per message.
type Reply struct {
	Error   string            `json:"error,omitempty"`
	Message *Record           `json:"message,omitempty"`
	History []Record          `json:"history,omitempty"`
	Stats   map[string]uint64 `json:"stats,omitempty"`
	User    string            `json:"user,omitempty"` // subscribe: the name registered for me
}

// ErrNoService is returned by Dial when no agent runs the Messenger.
var ErrNoService = errors.New("messenger: no mailslot agent with the Messenger service is running (start \"mailslot agent\")")

// Addr is the service's abstract socket address in namespace ns.
func Addr(ns string) string { return jsonsock.Addr(ns, "messenger") }

// Dial connects to the service and checks, with SO_PEERCRED, that root
// bound the socket: a local user cannot pose as the agent.
func Dial(ctx context.Context, ns string) (*net.UnixConn, error) {
	return jsonsock.Dial(ctx, ns, "messenger", ErrNoService)
}

// WriteJSON sends v as one message.
func WriteJSON(c *net.UnixConn, v any) error { return jsonsock.Write(c, v) }

// ReadJSON reads one message into v, using buf (at least MaxFrame bytes).
func ReadJSON(c *net.UnixConn, buf []byte, v any) error { return jsonsock.Read(c, buf, v) }
