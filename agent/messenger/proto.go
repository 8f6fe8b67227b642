//go:build linux

package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/mailslot/mailslot/internal/agentproto"
)

// The local protocol between the agent's Messenger service and the users'
// programs (mailslot messenger, net send, messages): JSON documents, one
// per SOCK_SEQPACKET message, on @mailslot/<namespace>/messenger. The
// socket is bound by the agent while root, so clients can check it is the
// agent; the agent learns each client's uid from the kernel (SO_PEERCRED),
// which decides the From of what it sends and the popups it may see.

// MaxFrame bounds one message on the socket.
const MaxFrame = 64 << 10

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
func Addr(ns string) string { return "@mailslot/" + agentproto.Namespace(ns) + "/messenger" }

// Dial connects to the service and checks, with SO_PEERCRED, that root
// bound the socket: a local user cannot pose as the agent.
func Dial(ctx context.Context, ns string) (*net.UnixConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", Addr(ns))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, ErrNoService
		}
		return nil, err
	}
	uc := c.(*net.UnixConn)
	cred, err := agentproto.PeerCred(uc)
	if err == nil && cred.Uid != 0 {
		err = fmt.Errorf("%w (uid %d)", agentproto.ErrNotAgent, cred.Uid)
	}
	if err != nil {
		uc.Close()
		return nil, err
	}
	return uc, nil
}

// WriteJSON sends v as one message.
func WriteJSON(c *net.UnixConn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxFrame {
		return fmt.Errorf("messenger: %d-byte message over %d", len(b), MaxFrame)
	}
	_, err = c.Write(b)
	return err
}

// ReadJSON reads one message into v, using buf (at least MaxFrame bytes).
func ReadJSON(c *net.UnixConn, buf []byte, v any) error {
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if n == 0 {
		return net.ErrClosed
	}
	return json.Unmarshal(buf[:n], v)
}
