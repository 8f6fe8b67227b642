package transport

import (
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"github.com/mailslot/mailslot/internal/nowait"
	"golang.org/x/sys/unix"
)

// udpSendBatch is the scratch of one sendmmsg to one destination, taken
// from a pool (writers send concurrently): sending allocates nothing per
// message, where x/net's WriteBatch allocates the headers and each
// message's socket address.
type udpSendBatch struct {
	hdrs [batch]unix.Mmsghdr
	iovs [batch]unix.Iovec
	name unix.RawSockaddrInet4

	write func(fd uintptr) bool // sendmmsg, bound once
	bufs  [][]byte
	sent  int
	err   error
}

var sendBatches = sync.Pool{New: func() any {
	b := new(udpSendBatch)
	b.write = b.sendmmsg
	return b
}}

// writeBatch sends every buffer of bufs to dst (IPv4) with sendmmsg,
// waiting in Go's poller while the socket's buffer is full.
func writeBatch(rc syscall.RawConn, bufs [][]byte, dst netip.AddrPort) error {
	a := dst.Addr().Unmap()
	if !a.Is4() {
		return unix.EAFNOSUPPORT
	}
	b := sendBatches.Get().(*udpSendBatch)
	defer sendBatches.Put(b)
	b.name = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
	port := (*[2]byte)(unsafe.Pointer(&b.name.Port)) // network byte order
	port[0], port[1] = byte(dst.Port()>>8), byte(dst.Port())
	defer func() { b.bufs = nil }() // do not keep the messages alive
	for len(bufs) > 0 {
		b.bufs, b.sent, b.err = bufs, 0, nil
		if err := rc.Write(b.write); err != nil {
			return err
		}
		if b.err != nil {
			return b.err
		}
		bufs = bufs[b.sent:]
	}
	return nil
}

// sendmmsg is one non-blocking sendmmsg call; false asks the poller to
// wait until the socket has room.
func (b *udpSendBatch) sendmmsg(fd uintptr) bool {
	n := min(len(b.bufs), batch)
	for i := range n {
		b.iovs[i].Base = unsafe.SliceData(b.bufs[i])
		b.iovs[i].SetLen(len(b.bufs[i]))
		h := &b.hdrs[i]
		h.Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&b.name)), Namelen: unix.SizeofSockaddrInet4, Iov: &b.iovs[i]}
		h.Hdr.SetIovlen(1)
	}
	r, _, e := nowait.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	for i := range n {
		b.iovs[i].Base = nil
	}
	return settle(r, e, &b.sent, &b.err)
}
