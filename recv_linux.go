package mailslot

import (
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/mailslot/mailslot/internal/msgq"
	"github.com/mailslot/mailslot/internal/nowait"
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
	want          int   // records to ask for per receive call (adapts)
	class         int   // size class of its last record (0: none yet)
	more          bool  // the last receive filled its batch: there may be more
	last          int64 // timestamp of the last record taken
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
	msgs  [rxBatchMax]*msgq.Msg // full-size receive buffers
	small [rxBatchMax]*msgq.Msg // per record, a buffer of the size class the peer sent last
	oobs  [rxBatchMax][64]byte
	res   [rxBatchMax]rxResult
	hdrs  [rxBatchMax]unix.Mmsghdr
	iovs  [rxBatchMax][2]unix.Iovec
}

type rxResult struct{ n, oobn, flags int }

var rxPool = sync.Pool{New: func() any { return new(rxBatch) }}

// recvBatch receives up to want records with one recvmmsg(2) call, without
// blocking, and returns how many arrived. Record i lands in b.small[i] (if
// set) and continues in b.msgs[i]: a record of the size its writer sent last
// lands in a buffer of its own size class, and needs no copy.
func recvBatch(fd int, b *rxBatch, want int) (int, error) {
	for i := 0; i < want; i++ {
		h := &b.hdrs[i]
		iov := b.iovs[i][:0]
		if sm := b.small[i]; sm != nil {
			iov = append(iov, unix.Iovec{Base: &sm.Data[0]})
			iov[len(iov)-1].SetLen(len(sm.Data))
		}
		m := b.msgs[i]
		iov = append(iov, unix.Iovec{Base: &m.Data[0]})
		iov[len(iov)-1].SetLen(len(m.Data))
		h.Hdr.Iov = &b.iovs[i][0]
		h.Hdr.SetIovlen(len(iov))
		h.Hdr.Control = &b.oobs[i][0]
		h.Hdr.SetControllen(oobSize)
		h.Hdr.Flags = 0
		h.Len = 0
	}
	r0, _, e := nowait.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(want),
		uintptr(unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC), 0, 0)
	for i := 0; i < want; i++ {
		h := &b.hdrs[i]
		b.res[i] = rxResult{n: int(h.Len), oobn: int(h.Hdr.Controllen), flags: int(h.Hdr.Flags)}
		b.iovs[i] = [2]unix.Iovec{} // do not keep buffers alive
		h.Hdr.Iov, h.Hdr.Control = nil, nil
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

// How much a drain takes in.
const (
	drainAll  = true  // everything the kernel holds: Info, the drainer
	drainSome = false // enough for a while: a reader
)

// drainSomeMin is the queue length at which a reader's drain stops: enough
// messages that the system calls of a round are shared by many, few enough
// that their buffers stay in the CPU's caches. Measured: 64 gave the
// tightest spread on the 4 KiB, 8-writer benchmark (1, 16 and a whole quota
// were tried).
const drainSomeMin = 64

// drainLocked moves records the kernel holds for the slot into the queue,
// without blocking, in the order the writers sent them: it repeats
// epoll_wait(0) and a receive on each ready connection, and orders what it
// took by the kernel's send timestamps, so a write that returned before
// another started is read first, whichever connections they used.
//
// With drainAll it goes on until epoll reports nothing, so that Info counts
// every message whose Write returned. With drainSome (a reader that found
// the queue empty) it takes one batch from each ready connection per round
// and stops after the round that brings the queue to drainSomeMin messages:
// the reader's queue, and the buffers it cycles through, stay small while
// writers keep sending, which is faster than taking in a whole quota at
// once. A message taken in is queued only once it is no younger than the
// last one taken from every connection that may hold more, nor than the
// start of the round (the cut-off): any record still in the kernel was sent
// later, and so cannot belong before it. Younger ones wait in s.pend for the
// next drain. s.mu must be held.
func (s *Slot) drainLocked(all bool) {
	if s.closed {
		return
	}
	b := rxPool.Get().(*rxBatch)
	defer rxPool.Put(b)
	for len(s.peers) > 0 {
		progress, known := false, true
		cut := int64(maxTime)
		if p := s.solo; p != nil {
			// One connection: no need to ask epoll which.
			progress = s.recvPeer(p, b, all)
			if !p.more {
				break // it is empty
			}
			cut = p.last
		} else {
			if !all {
				// A connection found empty in this round may have
				// received a record since, stamped no earlier than
				// now: what was sent after now waits for a later round.
				cut = time.Now().UnixNano()
			}
			n, err := nowait.EpollPoll(s.epfd, s.events[:])
			if err == unix.EINTR {
				continue
			}
			if n <= 0 {
				break // nothing left anywhere
			}
			for _, ev := range s.events[:n] {
				p := s.peers[ev.Fd]
				if p == nil {
					continue
				}
				if s.recvPeer(p, b, all) {
					progress = true
				}
				if p.more && p.last < cut {
					cut = p.last
				}
			}
			// With every event slot used, connections epoll did not
			// report may be ready too: no cut-off is known.
			known = n < len(s.events)
		}
		// A writer's connection that the quota cannot take stays ready
		// (level-triggered) but is skipped: stop when a round takes
		// nothing.
		if !progress {
			break
		}
		if !all && known {
			s.queuePendLocked(cut)
			if s.q.Len() >= drainSomeMin {
				return
			}
		}
	}
	s.queuePendLocked(maxTime)
}

// maxTime is a cut-off later than every timestamp.
const maxTime = 1<<63 - 1

// queuePendLocked orders s.pend by time if it came from several connections,
// queues the messages sent no later than cut, and keeps the rest in s.pend.
// s.mu must be held.
func (s *Slot) queuePendLocked(cut int64) {
	if len(s.pend) == 0 {
		return
	}
	if s.pendMulti {
		slices.SortStableFunc(s.pend, byTime)
	}
	// The first record younger than cut, and all after it, wait: even with
	// records of one connection only (in its order, whatever their stamps
	// say), another connection may still receive an older one.
	n := len(s.pend)
	if cut != maxTime {
		n = slices.IndexFunc(s.pend, func(m *msgq.Msg) bool { return m.Time.UnixNano() > cut })
		if n < 0 {
			n = len(s.pend)
		}
	}
	for i, m := range s.pend[:n] {
		s.q.Push(m)
		s.pendCost -= MessageCost(len(m.Data))
		s.pend[i] = nil
	}
	rest := copy(s.pend, s.pend[n:])
	clear(s.pend[rest:])
	s.pend = s.pend[:rest]
	if rest == 0 {
		s.pendFrom, s.pendMulti = nil, false
	}
	if n > 0 {
		notify(s.avail)
	}
}

func byTime(a, b *msgq.Msg) int { return a.Time.Compare(b.Time) }

// recvPeer takes the records p holds and appends the messages to s.pend:
// all of them (all), or one batch. It stops early only if the slot's own
// count reaches the quota, which honest writers never cause. It sets p.more
// if p may hold more (its batch was full) and p.last to the timestamp of the
// last record it took. It removes p at end of file or on error, and reports
// whether it took anything (records, dropped ones, or the hang-up).
func (s *Slot) recvPeer(p *peer, b *rxBatch, all bool) bool {
	bufSize := MaxLocalMessageSize
	if p.decode != nil {
		bufSize = sourceBufSize
	}
	total := 0
	want := p.want
	p.more = false
	for !s.closed {
		if p.decode == nil && s.overQuota() {
			// Only a writer that tampered with the quota page gets here.
			// Leave the rest in the kernel until there is room.
			return total > 0
		}
		want = max(1, min(want, rxBatchMax))
		for i := 0; i < want; i++ {
			// Receive buffers stay in the (pooled) batch unless a
			// message keeps one, so a call costs no pool traffic.
			if m := b.msgs[i]; m == nil || len(m.Data) != bufSize {
				if m != nil {
					msgq.Put(m)
				}
				b.msgs[i] = msgq.Get(bufSize)
			}
			if sm := b.small[i]; sm != nil && (p.decode != nil || len(sm.Data) != p.class) {
				msgq.Put(sm)
				b.small[i] = nil
			}
			if b.small[i] == nil && p.decode == nil && p.class > 0 && p.class < bufSize {
				b.small[i] = msgq.Get(p.class)
			}
		}
		got, err := recvBatch(p.fd, b, want)
		eof := false
		for i := 0; i < got; i++ {
			r := b.res[i]
			ts, stamped := rxStamp(b.oobs[i][:r.oobn])
			if !stamped && r.n == 0 && r.flags&unix.MSG_CTRUNC == 0 {
				eof = true // the writer hung up
				break
			}
			if stamped {
				p.last = ts
			}
			switch s.take1(p, b, i, r, ts) {
			case keptSmall:
				b.small[i] = nil
			case keptBig:
				b.msgs[i] = nil
			}
			total++
		}
		if err == unix.EINTR {
			continue
		}
		if eof || (err != nil && err != unix.EAGAIN) {
			s.removePeerLocked(p)
			return true
		}
		if err != nil {
			return total > 0 // EAGAIN: empty; keep the batch size it had
		}
		if got < want {
			p.want = got + 1 // fewer than asked for: the connection is empty
			return total > 0
		}
		want = 2 * want
		p.want = min(want, rxBatchMax)
		if !all {
			p.more = true
			return total > 0
		}
	}
	return total > 0
}

// overQuota reports whether the slot's own count (queued plus received in
// this drain) has reached the quota. Writers reserve before they send, so
// this is never true while records are left in the kernel, unless a writer
// tampered with the quota page.
func (s *Slot) overQuota() bool { return s.q.Bytes()+s.pendCost >= s.set.quota }

// What take1 did with record i's buffers.
const (
	keptNone  = iota // copied, or dropped
	keptSmall        // the message is b.small[i]
	keptBig          // the message is b.msgs[i]
)

// take1 turns received record i into a pending message, or drops it. It
// keeps a receive buffer as the message when the buffer is of the record's
// size class; otherwise it copies the record.
func (s *Slot) take1(p *peer, b *rxBatch, i int, r rxResult, ts int64) int {
	if r.flags&unix.MSG_TRUNC != 0 {
		s.dropped++
		return keptNone
	}
	var (
		from Sender
		m    *msgq.Msg
		kept = keptNone
	)
	if p.decode != nil {
		payload, f, ok := p.decode(b.msgs[i].Data[:r.n])
		if !ok || len(payload) > s.set.limit() || !s.page.TryReserve(int64(MessageCost(len(payload))), int64(s.set.quota)) {
			// Sources are not pre-reserved: what the quota cannot take
			// is dropped and counted, never blocking the source.
			s.dropped++
			return keptNone
		}
		m, from = msgq.Copy(payload), f
	} else {
		if r.n > s.set.limit() {
			s.dropped++
			return keptNone
		}
		class := msgq.ClassSize(r.n)
		p.class = class
		small, big := b.small[i], b.msgs[i]
		switch {
		case small == nil && class == len(big.Data):
			m, kept = big.Shrink(r.n), keptBig
		case small == nil:
			m = msgq.Copy(big.Data[:r.n])
		case r.n <= len(small.Data) && class == len(small.Data):
			m, kept = small.Shrink(r.n), keptSmall
		case r.n <= len(small.Data):
			m = msgq.Copy(small.Data[:r.n])
		default: // split across the two buffers
			m = msgq.Get(r.n)
			k := copy(m.Data, small.Data)
			copy(m.Data[k:], big.Data[:r.n-k])
		}
		from = Sender{PID: p.pid, UID: p.uid, GID: p.gid}
	}
	if ts == 0 {
		ts = time.Now().UnixNano()
	}
	m.Time = time.Unix(0, ts)
	m.PID, m.UID, m.GID = from.PID, from.UID, from.GID
	m.Remote, m.Host, m.Addr = from.Remote, from.Host, from.Addr
	if s.pendFrom != nil && s.pendFrom != p {
		s.pendMulti = true
	}
	s.pendFrom = p
	s.pend = append(s.pend, m)
	s.pendCost += MessageCost(len(m.Data))
	return kept
}

// addPeerLocked puts a connection into the epoll set. s.mu must be held.
func (s *Slot) addPeerLocked(p *peer) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(p.fd)}
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, p.fd, &ev); err != nil {
		return err
	}
	s.peers[int32(p.fd)] = p
	s.setSoloLocked()
	if p.decode == nil {
		s.peersOf[p.uid]++
	}
	return nil
}

// setSoloLocked keeps s.solo, the connection when there is exactly one,
// so that a drain does not range over the map. s.mu must be held.
func (s *Slot) setSoloLocked() {
	s.solo = nil
	if len(s.peers) == 1 {
		for _, p := range s.peers {
			s.solo = p
		}
	}
}

// removePeerLocked drops a connection. s.mu must be held.
func (s *Slot) removePeerLocked(p *peer) {
	if s.peers[int32(p.fd)] != p {
		return
	}
	delete(s.peers, int32(p.fd))
	s.setSoloLocked()
	if p.decode == nil {
		if s.peersOf[p.uid]--; s.peersOf[p.uid] <= 0 {
			delete(s.peersOf, p.uid)
		}
	}
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
