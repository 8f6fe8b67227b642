package agentproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoAgent is wrapped by Dial when nothing listens on the agent socket.
var ErrNoAgent = errors.New("no mailslot agent is running on this host (start it with \"mailslot agent\")")

// ErrNotAgent is wrapped by Dial when the socket's owner is not root: only
// a process that was root when it bound the socket can be this host's agent,
// so a local user cannot pose as it.
var ErrNotAgent = errors.New("the agent socket is not owned by root")

// Dial connects to the agent of namespace ns and checks, with the kernel's
// SO_PEERCRED, that the listener was created by uid 0.
func Dial(ctx context.Context, ns string) (*net.UnixConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", Addr(ns))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, ErrNoAgent
		}
		return nil, err
	}
	uc := c.(*net.UnixConn)
	cred, err := PeerCred(uc)
	if err != nil {
		uc.Close()
		return nil, err
	}
	if cred.Uid != 0 {
		uc.Close()
		return nil, fmt.Errorf("%w (uid %d)", ErrNotAgent, cred.Uid)
	}
	return uc, nil
}

// PeerCred returns the kernel's record of the other side: for a client
// connection, the credentials the listener had at listen(); for an accepted
// connection, the client's at connect().
func PeerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var (
		cred *unix.Ucred
		gerr error
	)
	if err := rc.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if gerr != nil {
		return nil, fmt.Errorf("agentproto: SO_PEERCRED: %w", gerr)
	}
	return cred, nil
}

// Listen creates the agent socket of namespace ns. Call it while still
// root: the credentials clients see are those of listen().
func Listen(ns string) (*net.UnixListener, error) {
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: Addr(ns), Net: "unixpacket"})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("another mailslot agent already runs in namespace %q", Namespace(ns))
		}
		return nil, err
	}
	return l, nil
}

// Roundtrip sends req on c and reads one answer frame into buf.
func Roundtrip(c *net.UnixConn, req *Frame, buf []byte) (Frame, error) {
	b, err := req.Append(nil)
	if err != nil {
		return Frame{}, err
	}
	if _, err := c.Write(b); err != nil {
		return Frame{}, err
	}
	n, err := c.Read(buf)
	if err != nil {
		return Frame{}, err
	}
	if n == 0 {
		return Frame{}, fmt.Errorf("agentproto: the agent closed the connection")
	}
	return Decode(buf[:n])
}

// WriteWithFD sends one frame carrying descriptor fd (SCM_RIGHTS): a slot
// registers with its own listening socket attached, which proves it owns
// the slot's name without the agent connecting to it.
func WriteWithFD(c *net.UnixConn, b []byte, fd int) error {
	_, _, err := c.WriteMsgUnix(b, unix.UnixRights(fd), nil)
	return err
}

// ReadWithFDs reads one frame and the descriptors that came with it (the
// caller owns and must close them).
func ReadWithFDs(c *net.UnixConn, buf []byte) (int, []int, error) {
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return n, nil, err
	}
	var fds []int
	if oobn > 0 {
		if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
			for _, m := range msgs {
				if got, rerr := unix.ParseUnixRights(&m); rerr == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	return n, fds, nil
}

// IsListener reports whether fd is a listening Unix socket bound to addr
// (Go's form, '@' for the abstract namespace).
func IsListener(fd int, addr string) bool {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	u, ok := sa.(*unix.SockaddrUnix)
	return ok && u.Name == addr
}
