package samba

import (
	"context"
	"net"
	"time"

	"github.com/mailslot/mailslot/wire/nmbdsock"
)

// dialTimeout bounds connecting and reading nmbd's ack: nmbd answers at
// once unless it is stuck, and a stuck nmbd is as good as absent.
const dialTimeout = 2 * time.Second

// subscribe connects to nmbd's unexpected socket at path and asks for every
// datagram it hands out (no mailslot filter: the agent filters itself, and
// one connection serves every slot). It returns once nmbd acknowledged.
// After that the connection is read-only: nmbd drops a client that writes.
func subscribe(ctx context.Context, path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	q := nmbdsock.Query{Type: nmbdsock.Dgram, TrnID: nmbdsock.AnyTrnID}
	b, _ := q.Append(nil)
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if _, err := c.Write(b); err != nil {
		c.Close()
		return nil, err
	}
	if err := nmbdsock.ReadAck(c); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// Present reports whether nmbd answers on its unexpected socket at path.
func Present(ctx context.Context, path string) bool {
	c, err := subscribe(ctx, path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
