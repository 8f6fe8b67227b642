//go:build linux || darwin

package mailslot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mailslot/mailslot/internal/ctlmsg"
	"github.com/mailslot/mailslot/internal/msgq"
	"golang.org/x/sys/unix"
)

// Slot is the server (reading) end of a local mailslot. Only the process
// that created it can read; any number of Writers can send to it. A Slot is
// safe for concurrent use; concurrent reads are served FIFO-ish, each
// message to exactly one reader.
type Slot struct {
	name    Name
	set     settings
	owner   Sender
	conn    *net.UnixConn
	raw     syscall.RawConn
	fd      int
	release func() // frees platform resources of the name

	readTimeout atomic.Int64 // nanoseconds; -1 = forever
	deadline    atomic.Int64 // UnixNano; 0 = none

	mu         sync.Mutex
	q          *msgq.Queue
	closed     bool
	dropped    int
	wake       chan struct{} // closed and replaced when the deadline changes
	rxWant     int           // datagrams to ask for per receive call
	ctlbuf     []byte
	groupCache map[[2]int]bool // (pid, uid) → member of an allowed group

	// Who waits on the socket. Exactly one goroutine at a time is the
	// "pump": a reader that has nothing to read (so the kernel wakes it
	// directly, with no hand-off), or, when no reader has been around for
	// pumpGrace, the drainer, which keeps the kernel's short datagram queue
	// empty. A reader that needs the socket kicks the drainer out with a
	// past deadline. Guarded by mu.
	pumping        bool
	drainerPumping bool
	kicked         bool
	waiters        int       // readers inside take
	drainerWaits   bool      // the drainer wants noReader when waiters drops to 0
	pumpDeadline   time.Time // the socket's read deadline
	lastRead       time.Time // when a reader last left take
	drainFn        func(uintptr) bool
	readFn         func(uintptr) bool

	avail    chan struct{} // cap 1: a message may be waiting
	space    chan struct{} // cap 1: the queue may have room again
	pumpFree chan struct{} // cap 1: the socket may have no pump
	noReader chan struct{} // cap 1: the last waiting reader left (when asked)
	done     chan struct{} // closed by Close
	drained  chan struct{} // closed when the drainer exits
}

// pumpGrace is how long the drainer leaves the socket to readers after the
// last read. A busy reader thus pumps itself; an idle slot is drained.
const pumpGrace = 10 * time.Millisecond

// aLongTimeAgo is a deadline in the past, to wake the pump.
var aLongTimeAgo = time.Unix(1, 0)

// Create creates the local mailslot name (`\\.\mailslot\...`) and returns
// its reading end. A nil cfg means the defaults described on Config.
// The name is free again as soon as the Slot is closed or its process exits.
func Create(name string, cfg *Config) (*Slot, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, opErr("create", name, err)
	}
	if !n.IsLocal() {
		return nil, opErr("create", name, fmt.Errorf(`%w: a process can only create local mailslots (\\.\mailslot\...)`, ErrInvalidName))
	}
	set, err := cfg.settings()
	if err != nil {
		return nil, opErr("create", n.String(), err)
	}
	conn, release, err := listenSlot(n, &set)
	if err != nil {
		return nil, opErr("create", n.String(), err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		release()
		return nil, opErr("create", n.String(), err)
	}
	var fd int
	raw.Control(func(f uintptr) { fd = int(f) })
	s := &Slot{
		name:     n,
		set:      set,
		owner:    Sender{PID: os.Getpid(), UID: os.Geteuid(), GID: os.Getegid()},
		conn:     conn,
		raw:      raw,
		fd:       fd,
		release:  release,
		q:        msgq.New(set.quota, MessageOverhead),
		wake:     make(chan struct{}),
		avail:    make(chan struct{}, 1),
		space:    make(chan struct{}, 1),
		pumpFree: make(chan struct{}, 1),
		noReader: make(chan struct{}, 1),
		done:     make(chan struct{}),
		drained:  make(chan struct{}),
	}
	s.drainFn, s.readFn = s.drainUntilStopped, s.drainUntilMessage
	s.readTimeout.Store(int64(set.readTimeout))
	go s.drainLoop()
	return s, nil
}

// Name returns the slot's name as created.
func (s *Slot) Name() Name { return s.name }

// Read reads the next message into p and returns its length. If p is shorter
// than the message, Read fails with ErrBufferTooSmall and the message stays
// queued. When the slot is empty Read waits as the read timeout and deadline
// say, then fails with an error satisfying errors.Is(err, os.ErrDeadlineExceeded).
func (s *Slot) Read(p []byte) (int, error) {
	m, err := s.take(context.Background(), "read", len(p))
	if err != nil {
		return 0, err
	}
	n := copy(p, m.Data)
	msgq.Put(m)
	return n, nil
}

// ReadMessage returns the next message with its metadata. It waits like Read
// and also returns early when ctx is done.
func (s *Slot) ReadMessage(ctx context.Context) (Message, error) {
	m, err := s.take(ctx, "read", -1)
	if err != nil {
		return Message{}, err
	}
	data := make([]byte, len(m.Data))
	copy(data, m.Data)
	msg := Message{Data: data, Time: m.Time, Sender: Sender{PID: m.PID, UID: m.UID, GID: m.GID}}
	msgq.Put(m)
	return msg, nil
}

// take removes the head message, waiting for one as configured. limit < 0
// means any size.
func (s *Slot) take(ctx context.Context, op string, limit int) (*msgq.Msg, error) {
	var (
		start   time.Time
		timer   *time.Timer
		waiting bool
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		if waiting {
			s.mu.Lock()
			s.waiters--
			s.lastRead = time.Now()
			// Wake the drainer only if it asked: no per-message cost.
			wake := s.waiters == 0 && s.drainerWaits
			if wake {
				s.drainerWaits = false
			}
			s.mu.Unlock()
			if wake {
				notify(s.noReader)
			}
		}
	}()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, opErr(op, s.name.String(), net.ErrClosed)
		}
		if s.q.Len() == 0 && s.pumping {
			s.drainLocked(0) // the pump may be slow to look; a pump of our own drains first
		}
		if m := s.q.Peek(); m != nil {
			if limit >= 0 && len(m.Data) > limit {
				s.mu.Unlock()
				return nil, opErr(op, s.name.String(), fmt.Errorf("%w: the next message is %d bytes, the buffer %d", ErrBufferTooSmall, len(m.Data), limit))
			}
			wasFull := s.q.Full()
			s.q.Pop()
			more, roomNow := s.q.Len() > 0, wasFull && !s.q.Full()
			s.mu.Unlock()
			if more {
				notify(s.avail)
			}
			if roomNow {
				notify(s.space)
			}
			return m, nil
		}
		if start.IsZero() {
			start = time.Now()
		}
		wait, forever := s.remaining(start)
		if !forever && wait <= 0 {
			if s.q.Len() == 0 && !s.pumping {
				s.drainLocked(1) // a last look before timing out
			}
			if s.q.Len() > 0 {
				s.mu.Unlock()
				continue
			}
			s.mu.Unlock()
			return nil, opErr(op, s.name.String(), ErrTimeout)
		}
		if !waiting {
			waiting = true
			s.waiters++
		}
		if !s.pumping {
			// Wait on the socket ourselves, then look at the queue again.
			s.pumping = true
			var dl time.Time
			if !forever {
				dl = time.Now().Add(wait)
			}
			s.setReadDeadlineLocked(dl)
			s.mu.Unlock()
			err := s.pump(ctx)
			s.mu.Lock()
			s.pumping = false
			s.mu.Unlock()
			notify(s.pumpFree)
			if err := ctx.Err(); err != nil {
				return nil, opErr(op, s.name.String(), err)
			}
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !s.isClosed() {
				return nil, opErr(op, s.name.String(), err)
			}
			continue
		}
		if s.drainerPumping && !s.kicked {
			s.kicked = true
			s.setReadDeadlineLocked(aLongTimeAgo)
		}
		wake := s.wake
		s.mu.Unlock()
		var tc <-chan time.Time
		if !forever {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tc = timer.C
		}
		select {
		case <-s.avail:
		case <-s.pumpFree:
		case <-wake:
		case <-s.done:
		case <-tc:
		case <-ctx.Done():
			return nil, opErr(op, s.name.String(), ctx.Err())
		}
	}
}

// pump waits on the socket until a message is queued, the read deadline
// passes, or something kicks the pump (a new deadline, ctx, Close).
func (s *Slot) pump(ctx context.Context) error {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			s.mu.Lock()
			s.setReadDeadlineLocked(aLongTimeAgo)
			s.mu.Unlock()
		})
		defer stop()
	}
	return s.raw.Read(s.readFn)
}

// setReadDeadlineLocked sets the socket's read deadline, which only the pump
// uses, skipping the runtime call when it does not change. s.mu must be held.
func (s *Slot) setReadDeadlineLocked(t time.Time) {
	if !t.Equal(s.pumpDeadline) {
		s.conn.SetReadDeadline(t)
		s.pumpDeadline = t
	}
}

// drainUntilMessage is a reading pump's callback: it stops waiting once the
// queue holds a message.
func (s *Slot) drainUntilMessage(uintptr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked(rxBatchMax)
	return s.closed || s.q.Len() > 0
}

// drainUntilStopped is the drainer's callback: it keeps draining until the
// queue is full or a reader wants the socket.
func (s *Slot) drainUntilStopped(uintptr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked(0)
	return s.closed || s.q.Full() || s.kicked
}

// remaining is how long a read that started at start may still wait.
func (s *Slot) remaining(start time.Time) (wait time.Duration, forever bool) {
	timeout := time.Duration(s.readTimeout.Load())
	dl := s.deadline.Load()
	if timeout < 0 && dl == 0 {
		return 0, true
	}
	now := time.Now()
	wait = time.Duration(1<<63 - 1)
	if timeout >= 0 {
		wait = start.Add(timeout).Sub(now)
	}
	if dl != 0 {
		if d := time.Unix(0, dl).Sub(now); d < wait {
			wait = d
		}
	}
	return wait, false
}

// Info returns the slot's current state. Every message whose Write has
// returned is counted (while the queue is below its quota; see docs).
func (s *Slot) Info() (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Info{}, opErr("info", s.name.String(), net.ErrClosed)
	}
	s.drainLocked(0)
	info := Info{MaxMessageSize: s.set.maxMessageSize, NextSize: NoMessage, MessageCount: s.q.Len(),
		ReadTimeout: time.Duration(s.readTimeout.Load())}
	if m := s.q.Peek(); m != nil {
		info.NextSize = len(m.Data)
	}
	return info, nil
}

// SetReadTimeout changes the read timeout (SetMailslotInfo): 0 returns at
// once when empty, WaitForever (any negative value) blocks. It applies to
// reads that start afterwards.
func (s *Slot) SetReadTimeout(d time.Duration) error {
	if s.isClosed() {
		return opErr("set timeout", s.name.String(), net.ErrClosed)
	}
	s.readTimeout.Store(int64(normTimeout(d)))
	return nil
}

// SetReadDeadline sets an absolute limit for pending and future reads, in
// addition to the read timeout. The zero time clears it.
func (s *Slot) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return opErr("set deadline", s.name.String(), net.ErrClosed)
	}
	var v int64
	if !t.IsZero() {
		v = t.UnixNano()
		if v == 0 {
			v = 1
		}
	}
	s.deadline.Store(v)
	close(s.wake) // let blocked readers recompute their wait
	s.wake = make(chan struct{})
	if s.pumping && !s.drainerPumping {
		s.setReadDeadlineLocked(aLongTimeAgo) // the pumping reader too
	}
	return nil
}

// Close deletes the mailslot: unread messages are discarded, blocked reads
// return net.ErrClosed, and the name can be created again at once.
func (s *Slot) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return opErr("close", s.name.String(), net.ErrClosed)
	}
	s.closed = true
	s.q.Clear()
	close(s.done)
	s.mu.Unlock()
	// Outside s.mu: closing waits for the drainer to leave the poller, and
	// the drainer may be waiting for s.mu. Raw socket calls happen only under
	// s.mu while !s.closed, so none can use the descriptor after this.
	err := s.conn.Close()
	<-s.drained
	s.release()
	if err != nil {
		return opErr("close", s.name.String(), err)
	}
	return nil
}

func (s *Slot) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// drainLoop moves datagrams from the socket into the queue while no reader
// is waiting, so writers are limited by the slot's quota and not by the
// kernel's short datagram queue (net.unix.max_dgram_qlen, 10 by default).
func (s *Slot) drainLoop() {
	defer close(s.drained)
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		var wake <-chan struct{}
		switch {
		case s.q.Full():
			wake = s.space
		case time.Since(s.lastRead) < pumpGrace:
			// A reader was here a moment ago: look again once the grace
			// has passed. This wakes at most once per pumpGrace however
			// fast messages flow.
			rest := pumpGrace - time.Since(s.lastRead)
			s.mu.Unlock()
			idle.Reset(rest)
			select {
			case <-idle.C:
			case <-s.done:
				return
			}
			continue
		case s.waiters > 0:
			// A reader has been blocked for a while (and pumps the socket
			// itself): sleep until it leaves.
			s.drainerWaits = true
			wake = s.noReader
		}
		if wake != nil {
			s.mu.Unlock()
			select {
			case <-wake:
			case <-s.done:
				return
			}
			continue
		}
		s.pumping, s.drainerPumping = true, true
		s.setReadDeadlineLocked(time.Time{})
		s.mu.Unlock()
		err := s.raw.Read(s.drainFn)
		s.mu.Lock()
		s.pumping, s.drainerPumping, s.kicked = false, false, false
		s.mu.Unlock()
		notify(s.pumpFree)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // closed
		}
	}
}

// rxBatchMax is the most datagrams one receive call takes.
const rxBatchMax = 16

// oobSize fits the credentials and one passed descriptor.
const oobSize = 64

// rxBatch is the scratch of one receive call. It is pooled, so an idle slot
// holds none.
type rxBatch struct {
	msgs []*msgq.Msg // receive buffers for this call, MaxLocalMessageSize each
	all  [rxBatchMax]*msgq.Msg
	oobs [rxBatchMax][oobSize]byte
	res  [rxBatchMax]rxResult
	hdrs rxHeaders
	iovs [rxBatchMax]unix.Iovec
}

type rxResult struct{ n, oobn, flags int }

var rxPool = sync.Pool{New: func() any { return new(rxBatch) }}

// drainLocked reads the datagrams the socket holds, without blocking, until
// the socket is empty, the queue is full, or max data messages (if max > 0)
// were queued. It asks for more datagrams per call while calls come back
// full, so a busy slot takes up to rxBatchMax per system call and a quiet
// one wastes no buffers. s.mu must be held.
func (s *Slot) drainLocked(max int) {
	b := rxPool.Get().(*rxBatch)
	defer rxPool.Put(b)
	pushed := 0
	for !s.closed && !s.q.Full() && (max <= 0 || pushed < max) {
		want := s.rxWant
		if want < 1 {
			want = 1
		}
		if max > 0 && want > max-pushed {
			want = max - pushed
		}
		b.msgs = b.all[:want]
		for i := range b.msgs {
			b.msgs[i] = msgq.Get(MaxLocalMessageSize)
		}
		got, err := recvBatch(s.fd, b)
		for i := got; i < want; i++ {
			msgq.Put(b.msgs[i])
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break // EAGAIN: the socket is empty
		}
		for i := 0; i < got; i++ {
			if s.accept(b.msgs[i], b.res[i], b.oobs[i][:b.res[i].oobn]) {
				pushed++
			}
		}
		if got == want {
			s.rxWant = min(2*want, rxBatchMax)
		} else {
			s.rxWant = got + 1
			break // fewer than asked for: the socket is empty
		}
	}
	clear(b.all[:])
	if pushed > 0 {
		notify(s.avail)
	}
}

// accept queues one received datagram, answers it if it is a control
// request, or drops it; it reports whether a message was queued.
func (s *Slot) accept(m *msgq.Msg, r rxResult, oob []byte) bool {
	cr, reply := s.parseOOB(oob)
	if reply >= 0 {
		s.control(m.Data[:r.n], cr, reply)
		msgq.Put(m)
		return false
	}
	if r.flags&unix.MSG_TRUNC != 0 || r.n > s.set.limit() || !s.admits(cr) {
		s.dropped++
		msgq.Put(m)
		return false
	}
	m = m.Shrink(r.n)
	m.Time = time.Now()
	m.PID, m.UID, m.GID = cr.pid, cr.uid, cr.gid
	s.q.Push(m)
	return true
}

// creds are the kernel-verified sender credentials of one datagram.
type creds struct {
	ok            bool
	pid, uid, gid int
}

// parseOOB extracts credentials and at most one passed descriptor (the
// reply socket of a control request) from ancillary data. Any other
// descriptor is closed. It does not allocate.
func (s *Slot) parseOOB(oob []byte) (cr creds, reply int) {
	cr = creds{pid: -1, uid: -1, gid: -1}
	reply = -1
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			break
		}
		data := oob[hdr:l]
		if h.Level == unix.SOL_SOCKET {
			switch {
			case h.Type == unix.SCM_RIGHTS:
				for i := 0; i+4 <= len(data); i += 4 {
					fd := int(*(*int32)(unsafe.Pointer(&data[i])))
					if reply < 0 {
						reply = fd
					} else {
						unix.Close(fd)
					}
				}
			default:
				if c, ok := parseCred(h, data); ok {
					cr = c
				}
			}
		}
		next := unix.CmsgSpace(l - hdr)
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return cr, reply
}

// control answers a control request on its reply descriptor.
func (s *Slot) control(req []byte, cr creds, reply int) {
	defer unix.Close(reply)
	var st unix.Stat_t
	if unix.Fstat(reply, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return
	}
	if len(req) != 1 || req[0] != ctlmsg.OpStat {
		return
	}
	stat := ctlmsg.Stat{
		Admitted: s.admits(cr), PID: s.owner.PID, UID: s.owner.UID, GID: s.owner.GID,
		MaxMessageSize: s.set.maxMessageSize, ReadTimeoutMS: durationMS(time.Duration(s.readTimeout.Load())),
		MessageCount: s.q.Len(), NextSize: NoMessage, Quota: s.set.quota, Dropped: s.dropped, Name: s.name.String(),
	}
	if m := s.q.Peek(); m != nil {
		stat.NextSize = len(m.Data)
	}
	s.ctlbuf = stat.Append(s.ctlbuf[:0])
	unix.SetNonblock(reply, true) // never let a requester stall the slot
	unix.Write(reply, s.ctlbuf)
}

func durationMS(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// admits reports whether the sender of a datagram may write.
func (s *Slot) admits(c creds) bool {
	if !c.ok {
		// Without per-message credentials the socket file's permissions
		// (set by listenSlot) are what admits writers.
		return !credsSupported
	}
	if c.uid == 0 || c.uid == s.owner.UID || s.set.allowAnyone {
		return true
	}
	if len(s.set.allowGroups) == 0 {
		return false
	}
	for _, g := range s.set.allowGroups {
		if g == c.gid {
			return true
		}
	}
	key := [2]int{c.pid, c.uid}
	if ok, cached := s.groupCache[key]; cached {
		return ok
	}
	ok := inGroups(c.pid, s.set.allowGroups)
	if s.groupCache == nil || len(s.groupCache) > 4096 {
		s.groupCache = make(map[[2]int]bool)
	}
	s.groupCache[key] = ok
	return ok
}

// Writer is the client (writing) end of a mailslot. Each Write sends one
// whole message. A Writer is safe for concurrent use.
type Writer struct {
	name    Name
	c       *sender
	limit   int
	timeout atomic.Int64
	closed  atomic.Bool
}

// sender sends datagrams on a socket connected to a slot. Its callback is
// bound once, so that sending does not allocate.
type sender struct {
	conn      *net.UnixConn
	raw       syscall.RawConn
	mu        sync.Mutex // guards the fields below and serialises sends
	sendFn    func(uintptr) bool
	sendNowFn func(uintptr)
	p, oob    []byte
	wait      bool
	err       error
}

func newSender(conn *net.UnixConn) (*sender, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &sender{conn: conn, raw: raw}
	c.sendFn = c.trySend
	c.sendNowFn = func(fd uintptr) { c.trySend(fd) }
	return c, nil
}

// send sends one datagram. With a timeout > 0 it waits that long for room in
// the receiver's queue; with 0 it tries once.
func (c *sender) send(p, oob []byte, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.p, c.oob = nil, nil }()
	// First try without waiting: arming a deadline costs more than a send.
	// Control, unlike Write, ignores the (possibly stale) write deadline.
	c.p, c.oob, c.wait = p, oob, false
	if err := c.raw.Control(c.sendNowFn); err != nil {
		return err
	}
	if timeout <= 0 || (c.err != unix.EAGAIN && c.err != unix.ENOBUFS) {
		return c.err
	}
	c.wait = true
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	if err := c.raw.Write(c.sendFn); err != nil {
		return err
	}
	return c.err
}

func (c *sender) trySend(fd uintptr) bool {
	c.err = unix.Sendmsg(int(fd), c.p, c.oob, nil, unix.MSG_DONTWAIT)
	return !(c.wait && (c.err == unix.EAGAIN || c.err == unix.ENOBUFS))
}

// openTimeout bounds how long Open and Writer.Info wait for the slot's answer.
const openTimeout = time.Second

// Open opens a mailslot for writing. A local slot that does not exist gives
// ErrNotFound; a slot whose owner did not admit the caller, ErrAccessDenied.
func Open(name string) (*Writer, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, opErr("open", name, err)
	}
	if !n.IsLocal() {
		return nil, opErr("open", n.String(), fmt.Errorf("%w: remote and broadcast mailslots need the network agent, which is not part of this release", ErrNotSupported))
	}
	c, err := dialSender(slotAddr(n))
	if err != nil {
		return nil, opErr("open", n.String(), mapSendErr(err))
	}
	st, err := c.requestStat(openTimeout)
	if err != nil {
		c.conn.Close()
		return nil, opErr("open", n.String(), err)
	}
	if !st.Admitted {
		c.conn.Close()
		return nil, opErr("open", n.String(), fmt.Errorf("%w: the slot (owner uid %d) does not admit uid %d; its owner can widen access with AllowGroups or AllowAnyone", ErrAccessDenied, st.UID, os.Geteuid()))
	}
	w := &Writer{name: n, c: c, limit: st.MaxMessageSize}
	if w.limit == 0 {
		w.limit = MaxLocalMessageSize
	}
	w.timeout.Store(int64(DefaultWriteTimeout))
	return w, nil
}

func dialSender(addr string) (*sender, error) {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	c, err := newSender(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Send opens name, writes p as one message and closes it.
func Send(name string, p []byte) error {
	w, err := Open(name)
	if err != nil {
		return err
	}
	_, err = w.Write(p)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// Name returns the name the Writer was opened with.
func (w *Writer) Name() Name { return w.name }

// SetWriteTimeout sets how long Write may wait for room when the slot's
// queue is full (default DefaultWriteTimeout). 0 fails at once, as Windows
// does. Negative values are invalid: a Writer never waits forever.
func (w *Writer) SetWriteTimeout(d time.Duration) error {
	if d < 0 {
		return opErr("set timeout", w.name.String(), fmt.Errorf("%w: negative write timeout", ErrInvalidParameter))
	}
	w.timeout.Store(int64(d))
	return nil
}

// Write sends p as one message and returns len(p). A message larger than
// the slot's maximum fails with ErrMessageTooLarge and nothing is queued; a
// full slot fails with ErrSlotFull once the write timeout has passed.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed.Load() {
		return 0, opErr("write", w.name.String(), net.ErrClosed)
	}
	if len(p) > w.limit {
		return 0, opErr("write", w.name.String(), fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, len(p), w.limit))
	}
	if err := w.c.send(p, nil, time.Duration(w.timeout.Load())); err != nil {
		if w.closed.Load() {
			err = net.ErrClosed
		}
		return 0, opErr("write", w.name.String(), mapSendErr(err))
	}
	return len(p), nil
}

// Info returns the slot's state as its reader sees it (like GetMailslotInfo
// on a client handle, which Windows 8 and later allow).
func (w *Writer) Info() (Info, error) {
	if w.closed.Load() {
		return Info{}, opErr("info", w.name.String(), net.ErrClosed)
	}
	st, err := w.c.requestStat(openTimeout)
	if err != nil {
		return Info{}, opErr("info", w.name.String(), err)
	}
	return statInfo(st), nil
}

func statInfo(st ctlmsg.Stat) Info {
	info := Info{MaxMessageSize: st.MaxMessageSize, NextSize: st.NextSize, MessageCount: st.MessageCount,
		ReadTimeout: WaitForever}
	if st.ReadTimeoutMS >= 0 {
		info.ReadTimeout = time.Duration(st.ReadTimeoutMS) * time.Millisecond
	}
	return info
}

// Close closes the Writer. Messages already written stay queued.
func (w *Writer) Close() error {
	if w.closed.Swap(true) {
		return opErr("close", w.name.String(), net.ErrClosed)
	}
	return w.c.conn.Close()
}

// mapSendErr turns socket errors into this package's sentinels.
func mapSendErr(err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ENOBUFS):
		return fmt.Errorf("%w: its reader is not draining it", ErrSlotFull)
	case errors.Is(err, unix.ECONNREFUSED), errors.Is(err, unix.ENOTCONN), errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w (no reader has it open)", ErrNotFound)
	case errors.Is(err, unix.EMSGSIZE):
		return ErrMessageTooLarge
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return ErrAccessDenied
	case errors.Is(err, net.ErrClosed):
		return net.ErrClosed
	}
	return err
}

// requestStat sends a control request and waits for the slot's answer.
func (c *sender) requestStat(timeout time.Duration) (ctlmsg.Stat, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return ctlmsg.Stat{}, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	unix.SetNonblock(fds[0], true) // so that the read deadline works
	f := os.NewFile(uintptr(fds[0]), "mailslot-reply")
	defer f.Close()
	err = c.send([]byte{ctlmsg.OpStat}, unix.UnixRights(fds[1]), timeout)
	unix.Close(fds[1])
	if err != nil {
		return ctlmsg.Stat{}, mapSendErr(err)
	}
	f.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(io.LimitReader(f, ctlmsg.MaxLen+1))
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ctlmsg.Stat{}, fmt.Errorf("%w: no answer from its reader within %v (queue full, or the reader is stopped)", ErrSlotFull, timeout)
		}
		return ctlmsg.Stat{}, err
	}
	if len(b) == 0 {
		return ctlmsg.Stat{}, fmt.Errorf("%w (its reader closed it)", ErrNotFound)
	}
	return ctlmsg.Decode(b)
}

// listTimeout bounds how long List waits for each slot's answer.
const listTimeout = 250 * time.Millisecond

// List returns the live local mailslots of the current namespace. A slot that
// does not answer in time (its queue is full or its reader is stopped) is
// listed with its Err set and its name unknown.
func List() ([]SlotStatus, error) {
	addrs, err := slotAddrs()
	if err != nil {
		return nil, opErr("list", "", err)
	}
	out := make([]SlotStatus, 0, len(addrs))
	for _, a := range addrs {
		c, err := dialSender(a)
		if err != nil {
			continue // closed meanwhile
		}
		st, err := c.requestStat(listTimeout)
		c.conn.Close()
		if errors.Is(err, ErrNotFound) {
			continue
		}
		s := SlotStatus{PID: -1, UID: -1, Err: err}
		if err == nil {
			s.Name, _ = ParseName(st.Name)
			s.PID, s.UID, s.Info, s.Admitted = st.PID, st.UID, statInfo(st), st.Admitted
		}
		out = append(out, s)
	}
	return out, nil
}
