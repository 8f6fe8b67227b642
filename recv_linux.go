package mailslot

import (
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/mailslot/mailslot/internal/msgq"
	"golang.org/x/sys/unix"
)

// The receive path. Every admitted writer has a private SOCK_SEQPACKET
// connection to the slot, and every one of them is in the slot's own epoll
// set; the epoll descriptor itself is registered with Go's poller, so one
// goroutine at a time (the pump, see slot_linux.go) waits on all of them.
// A drain empties every ready connection into the queue: since writers
// reserve room on the quota page before they send, everything the kernel
// holds for the slot fits, and the slot can always take it all at once.

// peer is one connection in the epoll set: an admitted local writer, or a
// source registered by the network agent (decode != nil).
type peer struct {
	fd            int
	pid, uid, gid int
	decode        func(b []byte) (payload []byte, from Sender, ok bool)
	onClose       func()
}

// rxBatchMax is the most records one receive call takes.
const rxBatchMax = 16

// oobSize holds exactly one SCM_TIMESTAMPNS message. Anything else a writer
// attaches (descriptors) does not fit: the kernel truncates it and drops the
// descriptors, and the slot never installs one.
var oobSize = unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))

// sourceBufSize receives the agent's records: a payload of up to 64 KiB plus
// the agent's header.
const sourceBufSize = 128 << 10

// rxBatch is the scratch of one receive call. It is pooled, so an idle slot
// holds none.
type rxBatch struct {
	msgs [rxBatchMax]*msgq.Msg
	oobs [rxBatchMax][64]byte
	res  [rxBatchMax]rxResult
	hdrs [rxBatchMax]unix.Mmsghdr
	iovs [rxBatchMax]unix.Iovec
}

type rxResult struct{ n, oobn, flags int }

var rxPool = sync.Pool{New: func() any { return new(rxBatch) }}

// recvBatch receives up to want records with one recvmmsg(2) call, without
// blocking, into b.msgs[:want], and returns how many arrived.
func recvBatch(fd int, b *rxBatch, want int) (int, error) {
	for i := 0; i < want; i++ {
		h := &b.hdrs[i]
		m := b.msgs[i]
		b.iovs[i].Base = &m.Data[0]
		b.iovs[i].SetLen(len(m.Data))
		h.Hdr.Iov = &b.iovs[i]
		h.Hdr.SetIovlen(1)
		h.Hdr.Control = &b.oobs[i][0]
		h.Hdr.SetControllen(oobSize)
		h.Hdr.Flags = 0
		h.Len = 0
	}
	r0, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(want),
		uintptr(unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC), 0, 0)
	for i := 0; i < want; i++ {
		h := &b.hdrs[i]
		b.res[i] = rxResult{n: int(h.Len), oobn: int(h.Hdr.Controllen), flags: int(h.Hdr.Flags)}
		b.iovs[i].Base, h.Hdr.Iov, h.Hdr.Control = nil, nil, nil // do not keep buffers alive
	}
	if e != 0 {
		return 0, e
	}
	return int(r0), nil
}

// rxStamp returns the kernel's timestamp of a record (taken when the writer
// sent it) and whether the record carried one. Every record a writer sends
// on an accepted connection has one (SO_TIMESTAMPNS is set before the
// handshake); an end-of-file indication has none.
func rxStamp(oob []byte) (int64, bool) {
	hdr := unix.CmsgLen(0)
	if len(oob) < hdr {
		return 0, false
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_TIMESTAMPNS || int(h.Len) < hdr+int(unsafe.Sizeof(unix.Timespec{})) || int(h.Len) > len(oob) {
		return 0, false
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&oob[hdr]))
	return ts.Nano(), true
}

// drainLocked moves every record the kernel holds for the slot into the
// queue, without blocking, in the order the writers sent them: it repeats
// epoll_wait(0) and a receive on each ready connection until epoll reports
// nothing, then, if the records came from several connections, sorts them by
// the kernel's send timestamps. A write that returned before another started
// is therefore read first, whichever connections they used. s.mu must be held.
func (s *Slot) drainLocked() {
	if s.closed || len(s.peers) == 0 {
		return
	}
	b := rxPool.Get().(*rxBatch)
	s.pend, s.pendCost = s.pend[:0], 0
	var from *peer
	multi := false
	if len(s.peers) == 1 {
		// One connection: no need to ask epoll which.
		for _, p := range s.peers {
			s.recvPeer(p, b)
		}
	} else {
	poll:
		for !s.overQuota() {
			n, err := unix.EpollWait(s.epfd, s.events[:], 0)
			if err == unix.EINTR {
				continue
			}
			if n <= 0 {
				break
			}
			for _, ev := range s.events[:n] {
				p := s.peers[ev.Fd]
				if p == nil {
					continue
				}
				if s.recvPeer(p, b) > 0 {
					if from != nil && from != p {
						multi = true
					}
					from = p
				}
				if s.overQuota() {
					break poll
				}
			}
		}
	}
	rxPool.Put(b)
	if multi {
		slices.SortStableFunc(s.pend, byTime)
	}
	for i, m := range s.pend {
		s.q.Push(m)
		s.pend[i] = nil
	}
	if len(s.pend) > 0 {
		notify(s.avail)
	}
	s.pend, s.pendCost = s.pend[:0], 0
}

func byTime(a, b *msgq.Msg) int { return a.Time.Compare(b.Time) }

// recvPeer takes every record p holds (stopping early only if the slot's
// own count reaches the quota, which honest writers never cause) and appends
// them to s.pend. It returns how many records it took, and removes p at end
// of file or on error.
func (s *Slot) recvPeer(p *peer, b *rxBatch) int {
	bufSize := MaxLocalMessageSize
	if p.decode != nil {
		bufSize = sourceBufSize
	}
	total := 0
	want := s.rxWant
	for !s.closed {
		if p.decode == nil && s.overQuota() {
			// Only a writer that tampered with the quota page gets here.
			// Leave the rest in the kernel until there is room.
			return total
		}
		want = max(1, min(want, rxBatchMax))
		for i := 0; i < want; i++ {
			b.msgs[i] = msgq.Get(bufSize)
		}
		got, err := recvBatch(p.fd, b, want)
		eof := false
		for i := 0; i < got; i++ {
			r := b.res[i]
			ts, stamped := rxStamp(b.oobs[i][:r.oobn])
			if !stamped && r.n == 0 && r.flags&unix.MSG_CTRUNC == 0 {
				eof = true // the writer hung up
				for j := i; j < got; j++ {
					msgq.Put(b.msgs[j])
				}
				break
			}
			if s.take1(p, b.msgs[i], r, ts) {
				total++
			}
		}
		for i := got; i < want; i++ {
			msgq.Put(b.msgs[i])
		}
		clear(b.msgs[:want])
		if err == unix.EINTR {
			continue
		}
		if eof || (err != nil && err != unix.EAGAIN) {
			s.removePeerLocked(p)
			return total
		}
		if err != nil || got < want {
			s.rxWant = got + 1
			return total // fewer than asked for: the connection is empty
		}
		want = 2 * want
		s.rxWant = min(want, rxBatchMax)
	}
	return total
}

// overQuota reports whether the slot's own count (queued plus received in
// this drain) has reached the quota. Writers reserve before they send, so
// this is never true while records are left in the kernel, unless a writer
// tampered with the quota page.
func (s *Slot) overQuota() bool { return s.q.Bytes()+s.pendCost >= s.set.quota }

// take1 turns one received record into a pending message, or drops it.
func (s *Slot) take1(p *peer, m *msgq.Msg, r rxResult, ts int64) bool {
	if r.flags&unix.MSG_TRUNC != 0 {
		s.dropped++
		msgq.Put(m)
		return false
	}
	data := m.Data[:r.n]
	var from Sender
	if p.decode != nil {
		payload, f, ok := p.decode(data)
		if !ok || len(payload) > s.set.limit() || !s.page.TryReserve(int64(MessageCost(len(payload))), int64(s.set.quota)) {
			// Sources are not pre-reserved: what the quota cannot take
			// is dropped and counted, never blocking the source.
			s.dropped++
			msgq.Put(m)
			return false
		}
		nm := msgq.Get(len(payload))
		copy(nm.Data, payload)
		msgq.Put(m)
		m, from = nm, f
	} else {
		if r.n > s.set.limit() {
			s.dropped++
			msgq.Put(m)
			return false
		}
		m = m.Shrink(r.n)
		from = Sender{PID: p.pid, UID: p.uid, GID: p.gid}
	}
	if ts == 0 {
		ts = time.Now().UnixNano()
	}
	m.Time = time.Unix(0, ts)
	m.PID, m.UID, m.GID = from.PID, from.UID, from.GID
	m.Remote, m.Host, m.Addr = from.Remote, from.Host, from.Addr
	s.pend = append(s.pend, m)
	s.pendCost += MessageCost(len(m.Data))
	return true
}

// addPeerLocked puts a connection into the epoll set. s.mu must be held.
func (s *Slot) addPeerLocked(p *peer) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(p.fd)}
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, p.fd, &ev); err != nil {
		return err
	}
	s.peers[int32(p.fd)] = p
	return nil
}

// removePeerLocked drops a connection. s.mu must be held.
func (s *Slot) removePeerLocked(p *peer) {
	if s.peers[int32(p.fd)] != p {
		return
	}
	delete(s.peers, int32(p.fd))
	unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, p.fd, nil)
	unix.Close(p.fd)
	if p.onClose != nil {
		go p.onClose()
	}
}

// addSource registers a connected SOCK_SEQPACKET descriptor from the network
// agent; the slot owns it from now on. Each record is passed to decode, and
// the payload it returns is queued with from as its Sender, through the same
// queue, quota and order as local messages. Records decode refuses, and
// messages the quota cannot take, are dropped and counted; the source is
// never blocked. onClose runs (in its own goroutine) when the source hangs up
// or the slot closes.
func (s *Slot) addSource(fd int, decode func(b []byte) (payload []byte, from Sender, ok bool), onClose func()) error {
	if err := setupPeerSocket(fd); err != nil {
		unix.Close(fd)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		unix.Close(fd)
		return ErrNotFound
	}
	p := &peer{fd: fd, pid: -1, uid: -1, gid: -1, decode: decode, onClose: onClose}
	if err := s.addPeerLocked(p); err != nil {
		unix.Close(fd)
		return err
	}
	return nil
}

// setupPeerSocket prepares a connection for the receive path: kernel send
// timestamps on every record (the order across connections), and no
// descriptor passing (kernels before 6.16 lack SO_PASSRIGHTS; there the
// receive buffer is too small for descriptors, which the kernel then drops).
func setupPeerSocket(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSRIGHTS, 0)
	return unix.SetNonblock(fd, true)
}
