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
	if err := checkPeer(c); err != nil {
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

// errNotNmbd: the socket is not served by a root-owned nmbd of our network.
var errNotNmbd = errors.New("not Samba's nmbd")

// checkPeer checks the program at the other end of c. It must be root, as
// nmbd is: a socket path that some other user could have created (a
// mistaken --samba-socket) must not let that user feed the agent forged
// datagrams. And it must run in our network namespace: the filesystem, and
// so the socket path, may be shared with an nmbd that serves another
// network, such as the host's nmbd seen from a container or a test
// namespace; its datagrams are not ours. When the kernel does not let us
// read the namespace (no longer root), it is not compared: the check was
// made at start, as root.
func checkPeer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%w: not a unix socket", errNotNmbd)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var (
		cred *unix.Ucred
		cerr error
	)
	if err := rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if cred.Uid != 0 {
		return fmt.Errorf("%w: the socket's server runs as uid %d, not root", errNotNmbd, cred.Uid)
	}
	theirs, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cred.Pid))
	ours, err2 := os.Readlink("/proc/self/ns/net")
	if err1 != nil || err2 != nil || theirs == ours {
		return nil
	}
	return fmt.Errorf("%w: the nmbd on this socket (pid %d) serves another network namespace", errNotNmbd, cred.Pid)
}
