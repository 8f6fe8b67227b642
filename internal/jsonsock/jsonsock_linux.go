// Package jsonsock is the transport of the agent's application services
// (Messenger, browse): JSON documents, one per SOCK_SEQPACKET message, on
// an abstract socket the agent binds while root. Clients check with
// SO_PEERCRED that root bound it, so a local user cannot pose as the
// agent; the agent learns each client's uid the same way.
package jsonsock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/mailslot/mailslot/internal/agentproto"
)

// MaxFrame bounds one message.
const MaxFrame = 64 << 10

// Addr is the abstract address of service in namespace ns.
func Addr(ns, service string) string {
	return "@mailslot/" + agentproto.Namespace(ns) + "/" + service
}

// Listen binds the service's socket; call it while root.
func Listen(ns, service string) (*net.UnixListener, error) {
	return net.ListenUnix("unixpacket", &net.UnixAddr{Name: Addr(ns, service), Net: "unixpacket"})
}

// Dial connects to the service and checks that root bound it. noService
// is returned when nothing listens.
func Dial(ctx context.Context, ns, service string, noService error) (*net.UnixConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", Addr(ns, service))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, noService
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

// Write sends v as one message.
func Write(c *net.UnixConn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxFrame {
		return fmt.Errorf("jsonsock: %d-byte message over %d", len(b), MaxFrame)
	}
	_, err = c.Write(b)
	return err
}

// Read reads one message into v, using buf (at least MaxFrame bytes).
func Read(c *net.UnixConn, buf []byte, v any) error {
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if n == 0 {
		return net.ErrClosed
	}
	return json.Unmarshal(buf[:n], v)
}
