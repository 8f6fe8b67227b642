package transport

import (
	"net/netip"
	"syscall"
	"unsafe"

	"github.com/mailslot/mailslot/internal/nowait"
	"golang.org/x/sys/unix"
)

// udpBatch is the preallocated scratch of one socket reader: recvmmsg
// fills it in place, so receiving allocates nothing per packet (x/net's
// ReadBatch allocates each packet's source address and parses the control
// message into a new IP slice).
type udpBatch struct {
	hdrs  [batch]unix.Mmsghdr
	iovs  [batch]unix.Iovec
	names [batch]unix.RawSockaddrInet4
	// oobs hold each packet's IP_PKTINFO; uint64 words keep the control
	// message headers aligned.
	oobs [batch][8]uint64
	bufs [batch][2048]byte

	read func(fd uintptr) bool // recvmmsg
	n    int
	err  error
}

// recv reads between 1 and batch datagrams, waiting in Go's poller until
// at least one is there.
func (b *udpBatch) recv(rc syscall.RawConn) (int, error) {
	if b.read == nil {
		b.read = b.recvmmsg // bound once: a closure per call would allocate
	}
	b.n, b.err = 0, nil
	err := rc.Read(b.read)
	if err == nil {
		err = b.err
	}
	return b.n, err
}

// recvmmsg is one non-blocking recvmmsg call; false asks the poller to
// wait for the socket.
func (b *udpBatch) recvmmsg(fd uintptr) bool {
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(len(b.bufs[i]))
		h := &b.hdrs[i]
		h.Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&b.names[i])), Namelen: unix.SizeofSockaddrInet4,
			Iov: &b.iovs[i], Control: (*byte)(unsafe.Pointer(&b.oobs[i][0]))}
		h.Hdr.SetIovlen(1)
		h.Hdr.SetControllen(len(b.oobs[i]) * 8)
		h.Len = 0
	}
	r, _, e := nowait.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), batch, unix.MSG_DONTWAIT, 0, 0)
	return settle(r, e, &b.n, &b.err)
}

// settle stores the result of a non-blocking recvmmsg or sendmmsg for a
// RawConn's Read or Write: false (EAGAIN, EINTR) asks the poller to wait
// and call again.
func settle(r uintptr, e syscall.Errno, n *int, err *error) bool {
	switch e {
	case 0:
		*n = int(r)
	case unix.EAGAIN, unix.EINTR:
		return false
	default:
		*err = e
	}
	return true
}

// packet returns datagram i's data, source and destination (invalid when
// the packet carried no IP_PKTINFO).
func (b *udpBatch) packet(i int) (data []byte, src netip.AddrPort, dst netip.Addr, ok bool) {
	h := &b.hdrs[i]
	name := &b.names[i]
	if h.Hdr.Namelen < unix.SizeofSockaddrInet4 || name.Family != unix.AF_INET {
		return nil, netip.AddrPort{}, netip.Addr{}, false
	}
	port := (*[2]byte)(unsafe.Pointer(&name.Port)) // network byte order
	src = netip.AddrPortFrom(netip.AddrFrom4(name.Addr), uint16(port[0])<<8|uint16(port[1]))
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&b.oobs[i][0])), len(b.oobs[i])*8)
	return b.bufs[i][:min(int(h.Len), len(b.bufs[i]))], src, pktinfoDst(oob[:min(int(h.Hdr.Controllen), len(oob))]), true
}

// pktinfoDst returns the destination address of an IP_PKTINFO control
// message in oob, without allocating.
func pktinfoDst(oob []byte) netip.Addr {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		if h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet4Pktinfo) {
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return netip.AddrFrom4(pi.Addr)
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return netip.Addr{}
}
