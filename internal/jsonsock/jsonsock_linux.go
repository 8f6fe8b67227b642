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
	"sync"
	"syscall"
	"time"

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

// Serve accepts connections on ln until ctx ends and runs handle for each
// in its own goroutine, with a MaxFrame buffer. When ctx ends it closes
// the listener and every open connection, and returns once the handlers
// are done.
func Serve(ctx context.Context, ln *net.UnixListener, handle func(ctx context.Context, c *net.UnixConn, buf []byte)) {
	var (
		mu    sync.Mutex
		conns = map[*net.UnixConn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			time.Sleep(50 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			break
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
			handle(ctx, c, make([]byte, MaxFrame))
		}()
	}
	wg.Wait()
}

// ReadRequest reads a client's first message into v, waiting at most
// RequestTimeout for it.
func ReadRequest(c *net.UnixConn, buf []byte, v any) error {
	c.SetReadDeadline(time.Now().Add(RequestTimeout))
	defer c.SetReadDeadline(time.Time{})
	return Read(c, buf, v)
}

// RequestTimeout bounds how long a client may take to send its request.
const RequestTimeout = 10 * time.Second
