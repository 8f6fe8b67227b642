package transport

import (
	"net"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// shareOptions applies UDPConfig.Shared and the datagram input state to a
// socket before it is bound.
func (u *UDP) shareOptions(fd, port int) error {
	if u.cfg.Shared {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
	}
	if port == DatagramPort && u.sendOnly138.Load() {
		return DropInput(fd)
	}
	return nil
}

// SetDatagramInput turns the reception of the UDP 138 sockets on or off.
// Off, they only send: beside Samba's nmbd the agent receives datagrams
// through nmbd, and its shared sockets must not queue a second copy of
// every broadcast (reference: samba-coexistence.md §6.1). The sockets stay
// open, so the switch needs no privilege.
func (u *UDP) SetDatagramInput(on bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sendOnly138.Store(!on)
	for _, ui := range u.ifs {
		rc, err := ui.conns[1].(*net.UDPConn).SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			if on {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
			} else {
				serr = DropInput(int(fd))
			}
		}); err != nil {
			return err
		}
		if serr != nil && serr != unix.ENOENT { // ENOENT: no filter to detach
			return serr
		}
	}
	return nil
}

// DropInput attaches a classic BPF program that accepts no packet, so the
// socket never queues input.
func DropInput(fd int) error {
	prog, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return err
	}
	f := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		f[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
}
