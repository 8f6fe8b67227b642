package agent

import (
	"syscall"
	"unsafe"

	"github.com/mailslot/mailslot/internal/nowait"
	"golang.org/x/sys/unix"
)

// ioBatch is how many records one recvmmsg/sendmmsg moves on a local
// connection. Batching is the agent's main lever on throughput: a busy
// writer or a busy slot costs one system call per batch, not per message.
const ioBatch = 32

// seqBatch holds the scratch of batched I/O on a SOCK_SEQPACKET
// connection, so that the hot path does not allocate.
type seqBatch struct {
	hdrs [ioBatch]unix.Mmsghdr
	iovs [ioBatch]unix.Iovec
	bufs [ioBatch][]byte
	lens [ioBatch]int
}

func newSeqBatch(size int) *seqBatch {
	b := &seqBatch{}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, size)
	}
	return b
}

// recv reads between 1 and ioBatch records, waiting in Go's poller until
// at least one is there. A zero length means the peer hung up (no frame of
// the protocol is empty).
func (b *seqBatch) recv(rc syscall.RawConn) (int, error) {
	var (
		n    int
		serr error
	)
	err := rc.Read(func(fd uintptr) bool {
		for i := range b.hdrs {
			b.iovs[i].Base = &b.bufs[i][0]
			b.iovs[i].SetLen(len(b.bufs[i]))
			h := &b.hdrs[i]
			h.Hdr = unix.Msghdr{Iov: &b.iovs[i]}
			h.Hdr.SetIovlen(1)
			h.Len = 0
		}
		r, _, e := nowait.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), ioBatch, unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == unix.EAGAIN:
			return false
		case e == unix.EINTR:
			return false
		case e != 0:
			serr = e
		default:
			n = int(r)
		}
		return true
	})
	if err == nil {
		err = serr
	}
	for i := 0; i < n; i++ {
		b.lens[i] = int(b.hdrs[i].Len)
	}
	return n, err
}

// send writes every record of frames, waiting in Go's poller while the
// peer's buffer is full.
func (b *seqBatch) send(rc syscall.RawConn, frames [][]byte) error {
	for len(frames) > 0 {
		var (
			sent int
			serr error
		)
		err := rc.Write(func(fd uintptr) bool {
			r, e := b.sendmmsg(fd, frames)
			switch {
			case e == unix.EAGAIN, e == unix.EINTR:
				return false
			case e != 0:
				serr = e
			default:
				sent = r
			}
			return true
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return err
		}
		frames = frames[sent:]
	}
	return nil
}

// sendSome writes as many records of frames (at most ioBatch) as the
// peer's buffer has room for, with one sendmmsg and without waiting, and
// returns how many; 0 when it is full or the peer is gone.
func (b *seqBatch) sendSome(rc syscall.RawConn, frames [][]byte) int {
	sent := 0
	rc.Control(func(fd uintptr) {
		if r, e := b.sendmmsg(fd, frames); e == 0 {
			sent = r
		}
	})
	return sent
}

// sendmmsg makes one non-blocking sendmmsg call with the first ioBatch
// records of frames.
func (b *seqBatch) sendmmsg(fd uintptr, frames [][]byte) (int, syscall.Errno) {
	n := min(len(frames), ioBatch)
	for i := 0; i < n; i++ {
		b.iovs[i].Base = unsafe.SliceData(frames[i])
		b.iovs[i].SetLen(len(frames[i]))
		h := &b.hdrs[i]
		h.Hdr = unix.Msghdr{Iov: &b.iovs[i]}
		h.Hdr.SetIovlen(1)
	}
	r, _, e := nowait.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(n),
		unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
	for i := range b.iovs[:n] {
		b.iovs[i].Base = nil // do not keep the frames alive
	}
	return int(r), e
}

// sendNow writes one record if the peer's buffer has room, without waiting:
// false means it was not written (full, or the peer is gone) and the caller
// queues it instead.
func sendNow(rc syscall.RawConn, b []byte) bool {
	sent := false
	rc.Control(func(fd uintptr) {
		_, _, e := nowait.Syscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		sent = e == 0
	})
	return sent
}
