package samba

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

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
	if err := sameNetwork(c); err != nil {
		c.Close()
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

// errOtherNetwork: the socket's nmbd serves another network namespace.
var errOtherNetwork = errors.New("the nmbd on this socket serves another network namespace")

// sameNetwork checks that the program at the other end of c runs in our
// network namespace: the filesystem (and so the socket path) may be shared
// with an nmbd that serves another network, such as the host's nmbd seen
// from a container or a test namespace; its datagrams are not ours, and
// beside it the agent would leave its own network unserved. When the
// kernel does not let us look (no longer root), the answer is yes: the
// check was made at start, as root.
func sameNetwork(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *unix.Ucred
	rc.Control(func(fd uintptr) { cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if cred == nil || cred.Pid <= 0 {
		return nil
	}
	theirs, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cred.Pid))
	ours, err2 := os.Readlink("/proc/self/ns/net")
	if err1 != nil || err2 != nil || theirs == ours {
		return nil
	}
	return fmt.Errorf("%w (pid %d)", errOtherNetwork, cred.Pid)
}
