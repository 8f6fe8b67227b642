package transport

import (
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// shareOptions applies UDPConfig.Shared and SendOnlyDatagram to a socket
// before it is bound.
func (c *UDPConfig) shareOptions(fd, port int) error {
	if c.Shared {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
	}
	if c.SendOnlyDatagram && port == DatagramPort {
		return DropInput(fd)
	}
	return nil
}

// DropInput attaches a classic BPF program that accepts no packet, so the
// socket never queues input (reference: samba-coexistence.md §6.1).
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
