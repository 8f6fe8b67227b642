package mailslot

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailslot/mailslot/internal/ctlmsg"
	"github.com/mailslot/mailslot/internal/msgq"
	"github.com/mailslot/mailslot/internal/quota"
	"golang.org/x/sys/unix"
)

// Slot is the server (reading) end of a local mailslot. Only the process
// that created it can read; any number of Writers can send to it. A Slot is
// safe for concurrent use; concurrent reads are served FIFO-ish, each
// message to exactly one reader.
type Slot struct {
	name  Name
	set   settings
	addr  string
	owner Sender

	ln       *os.File // the listening socket: the slot's name; see acceptLoop
	ep       *os.File // the epoll set of all connections, in Go's poller
	epfd     int
	raw      syscall.RawConn
	page     *quota.Page // and its wake channel
	logger   *log.Logger
	floodGap time.Duration // between flood log lines

	readTimeout atomic.Int64 // nanoseconds; -1 = forever
	deadline    atomic.Int64 // UnixNano; 0 = none

	mu        sync.Mutex
	q         *msgq.Queue
	closed    bool
	dropped   int                 // records refused: oversized, undecodable, over quota (sources)
	peers     map[int32]*peer     // by descriptor
	solo      *peer               // the only one in peers, if there is exactly one
	peersOf   map[int]int         // connections by uid (writers only)
	events    [64]unix.EpollEvent // epoll_wait scratch
	pend      []*msgq.Msg         // records taken in, not yet ordered and queued
	pendCost  int                 // their MessageCost
	pendFrom  *peer               // the connection of the last of them
	pendMulti bool                // they came from several connections
	wake      chan struct{}       // closed and replaced when the deadline changes
	hello     []byte              // handshake scratch
	denied    []byte              // the record refused clients get
	busy      []byte              // the record clients over their user's connection limit get

	// Who waits on the epoll set. Exactly one goroutine at a time is the
	// "pump": a reader that has nothing to read (so the kernel wakes it
	// directly, with no hand-off), or, when no reader has been around for
	// pumpGrace, the drainer, which keeps connections empty so that
	// writers' kernel buffers never fill. A reader that needs the pump
	// kicks the drainer out with a past deadline. Guarded by mu.
	pumping        bool
	drainerPumping bool
	kicked         bool
	waiters        int       // readers inside take
	drainerWaits   bool      // the drainer wants noReader when waiters drops to 0
	pumpDeadline   time.Time // the epoll file's read deadline
	reads          uint64    // readers that left take; the drainer watches it
	drainFn        func(uintptr) bool
	readFn         func(uintptr) bool

	avail    chan struct{} // cap 1: a message may be waiting
	pumpFree chan struct{} // cap 1: the epoll set may have no pump
	noReader chan struct{} // cap 1: the last waiting reader left (when asked)
	done     chan struct{} // closed by Close
	drained  chan struct{} // closed when the drainer exits
	accepted chan struct{} // closed when the accept loop exits
}

// pumpGrace is how long the drainer leaves the epoll set to readers after
// the last read. A busy reader thus pumps itself; an idle slot is drained.
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
	s := &Slot{
		name:     n,
		set:      set,
		addr:     slotAddr(set.namespace, n),
		owner:    Sender{PID: os.Getpid(), UID: os.Geteuid(), GID: os.Getegid()},
		logger:   set.logger,
		floodGap: floodLogGap,
		q:        msgq.New(set.quota),
		peers:    make(map[int32]*peer),
		peersOf:  make(map[int]int),
		wake:     make(chan struct{}),
		avail:    make(chan struct{}, 1),
		pumpFree: make(chan struct{}, 1),
		noReader: make(chan struct{}, 1),
		done:     make(chan struct{}),
		drained:  make(chan struct{}),
		accepted: make(chan struct{}),
	}
	if err := s.open(); err != nil {
		s.release()
		return nil, opErr("create", n.String(), err)
	}
	s.drainFn, s.readFn = s.drainUntilStopped, s.drainUntilMessage
	s.denied = (&ctlmsg.Hello{Name: n.String()}).Append(nil)
	s.busy = (&ctlmsg.Hello{Name: n.String(), Busy: true}).Append(nil)
	s.readTimeout.Store(int64(set.readTimeout))
	go s.drainLoop()
	go s.acceptLoop()
	if set.allowRemote {
		if err := s.startRemote(); err != nil {
			s.Close()
			return nil, opErr("create", n.String(), err)
		}
	}
	return s, nil
}

// open makes the slot's resources: the quota page, the epoll set, and last
// the listening socket, which publishes the name.
func (s *Slot) open() error {
	var err error
	s.page, err = quota.Create()
	if err != nil {
		return err
	}
	s.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		s.epfd = -1
		return err
	}
	if err := unix.SetNonblock(s.epfd, true); err != nil {
		return err
	}
	s.ep = os.NewFile(uintptr(s.epfd), "mailslot-epoll")
	if s.raw, err = s.ep.SyscallConn(); err != nil {
		return err
	}
	s.ln, err = listen(s.addr)
	return err
}

// release frees what open made, after Close or a failed Create.
func (s *Slot) release() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.ep != nil {
		s.ep.Close()
	} else if s.epfd > 0 {
		unix.Close(s.epfd)
	}
	if s.page != nil {
		s.page.Close()
	}
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
	msg := Message{Data: data, Time: m.Time, Sender: Sender{PID: m.PID, UID: m.UID, GID: m.GID,
		Remote: m.Remote, Host: m.Host, Addr: m.Addr}}
	msgq.Put(m)
	return msg, nil
}

// take removes the head message, waiting for one as configured. limit < 0
// means any size. The read timeout is the one in force when take starts
// (SetReadTimeout affects later reads, as SetMailslotInfo does); the
// deadline is read afresh on every wake-up, as Go deadlines are.
func (s *Slot) take(ctx context.Context, op string, limit int) (*msgq.Msg, error) {
	var (
		start   time.Time
		timer   *time.Timer
		waiting bool
		timeout = time.Duration(s.readTimeout.Load())
	)
	// s.mu is held from here to leave, except while this read waits, so
	// that a read that pumps takes the lock once more per message, not four
	// times.
	s.mu.Lock()
	// leave ends the read: it releases s.mu, and wakes the drainer only if
	// the drainer asked (no per-message cost).
	leave := func(m *msgq.Msg, err error) (*msgq.Msg, error) {
		wake := false
		if waiting {
			s.waiters--
			s.reads++
			if wake = s.waiters == 0 && s.drainerWaits; wake {
				s.drainerWaits = false
			}
		}
		s.mu.Unlock()
		if wake {
			notify(s.noReader)
		}
		if timer != nil {
			timer.Stop()
		}
		return m, err
	}
	for {
		if s.closed {
			return leave(nil, opErr(op, s.name.String(), net.ErrClosed))
		}
		if s.q.Len() == 0 && s.pumping {
			s.drainLocked(drainSome) // the pump may be slow to look; a pump of our own drains first
		}
		if m := s.q.Peek(); m != nil {
			if limit >= 0 && len(m.Data) > limit {
				return leave(nil, opErr(op, s.name.String(), fmt.Errorf("%w: the next message is %d bytes, the buffer %d", ErrBufferTooSmall, len(m.Data), limit)))
			}
			wasFull := s.overQuota()
			s.q.Pop()
			s.page.Release(int64(MessageCost(len(m.Data))), int64(s.set.quota))
			if wasFull {
				// Records a tampering writer sent past the quota were
				// left in the kernel; take them in now there is room.
				s.drainLocked(drainAll)
			}
			if s.q.Len() > 0 && s.otherReadersLocked(waiting) {
				notify(s.avail)
			}
			return leave(m, nil)
		}
		if start.IsZero() && timeout >= 0 {
			start = time.Now() // only a read timeout needs it
		}
		wait, forever := s.remaining(start, timeout)
		if !forever && wait <= 0 {
			if !s.pumping {
				s.drainLocked(drainSome) // a last look before timing out
			}
			if s.q.Len() > 0 {
				continue
			}
			return leave(nil, opErr(op, s.name.String(), ErrTimeout))
		}
		if !waiting {
			waiting = true
			s.waiters++
		}
		if !s.pumping {
			// Wait on the epoll set ourselves, then look at the queue again.
			s.pumping = true
			var dl time.Time
			if !forever {
				dl = time.Now().Add(wait)
			}
			s.setPumpDeadlineLocked(dl)
			s.mu.Unlock()
			err := s.pump(ctx)
			s.mu.Lock()
			s.pumping = false
			if s.otherReadersLocked(waiting) {
				notify(s.pumpFree)
			}
			if err := ctx.Err(); err != nil {
				return leave(nil, opErr(op, s.name.String(), err))
			}
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !s.closed {
				return leave(nil, opErr(op, s.name.String(), err))
			}
			continue
		}
		if s.drainerPumping && !s.kicked {
			s.kicked = true
			s.setPumpDeadlineLocked(aLongTimeAgo)
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
			s.mu.Lock()
			return leave(nil, opErr(op, s.name.String(), ctx.Err()))
		}
		s.mu.Lock()
	}
}

// otherReadersLocked reports whether readers other than the calling one
// (counted in s.waiters if waiting) wait for a message or the pump, so that
// a read notifies nobody when it is alone. s.mu must be held.
func (s *Slot) otherReadersLocked(waiting bool) bool {
	if waiting {
		return s.waiters > 1
	}
	return s.waiters > 0
}

// pump waits on the epoll set until a message is queued, the deadline
// passes, or something kicks the pump (a new deadline, ctx, Close).
func (s *Slot) pump(ctx context.Context) error {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			s.mu.Lock()
			s.setPumpDeadlineLocked(aLongTimeAgo)
			s.mu.Unlock()
		})
		defer stop()
	}
	return s.raw.Read(s.readFn)
}

// setPumpDeadlineLocked sets the epoll file's read deadline, which only the
// pump uses, skipping the runtime call when it does not change. s.mu must be
// held.
func (s *Slot) setPumpDeadlineLocked(t time.Time) {
	if !t.Equal(s.pumpDeadline) {
		s.ep.SetReadDeadline(t)
		s.pumpDeadline = t
	}
}

// drainUntilMessage is a reading pump's callback: it stops waiting once the
// queue holds a message.
func (s *Slot) drainUntilMessage(uintptr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked(drainSome)
	return s.closed || s.q.Len() > 0
}

// drainUntilStopped is the drainer's callback: it keeps draining until a
// reader wants the pump. It drains even a full slot: sources' records are
// then dropped, never left to block the source, and writers cannot have sent
// anything the quota did not reserve.
func (s *Slot) drainUntilStopped(uintptr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked(drainAll)
	return s.closed || s.kicked
}

// remaining is how long a read that started at start with timeout may still
// wait.
func (s *Slot) remaining(start time.Time, timeout time.Duration) (wait time.Duration, forever bool) {
	return readWait(start, timeout, s.deadline.Load())
}

// Info returns the slot's current state. It first takes in everything the
// kernel holds for the slot, so every message whose Write has returned is
// counted.
func (s *Slot) Info() (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Info{}, opErr("info", s.name.String(), net.ErrClosed)
	}
	return s.infoLocked(), nil
}

func (s *Slot) infoLocked() Info {
	s.drainLocked(drainAll)
	info := Info{MaxMessageSize: s.set.maxMessageSize, NextSize: NoMessage, MessageCount: s.q.Len(),
		ReadTimeout: time.Duration(s.readTimeout.Load())}
	if m := s.q.Peek(); m != nil {
		info.NextSize = len(m.Data)
	}
	return info
}

// SetReadTimeout changes the read timeout (SetMailslotInfo): 0 returns at
// once when empty, WaitForever (any negative value) blocks. It applies to
// reads that start afterwards; reads already waiting keep the timeout they
// started with.
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
	s.deadline.Store(deadlineNanos(t))
	close(s.wake) // let blocked readers recompute their wait
	s.wake = make(chan struct{})
	if s.pumping && !s.drainerPumping {
		s.setPumpDeadlineLocked(aLongTimeAgo) // the pumping reader too
	}
	return nil
}

// Close deletes the mailslot: unread messages are discarded, blocked reads
// return net.ErrClosed, writers waiting for room fail, and the name can be
// created again at once.
func (s *Slot) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return opErr("close", s.name.String(), net.ErrClosed)
	}
	s.closed = true
	s.q.Clear()
	clear(s.pend)
	s.pend, s.pendCost, s.pendFrom = s.pend[:0], 0, nil
	for _, p := range s.peers {
		s.removePeerLocked(p)
	}
	close(s.done)
	s.mu.Unlock()
	s.page.MarkClosed()
	// Outside s.mu: closing the epoll file waits for the pump to leave Go's
	// poller, and the pump may be waiting for s.mu. Descriptors are used
	// only under s.mu while !s.closed, so none is used after this.
	err := s.ln.Close()
	<-s.accepted
	s.ep.Close()
	<-s.drained
	s.page.Close()
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

// drainLoop moves records into the queue while no reader is waiting, so
// that writers' connections stay empty.
func (s *Slot) drainLoop() {
	defer close(s.drained)
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	var seen uint64 // s.reads when the drainer last looked
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		var wake <-chan struct{}
		switch {
		case s.reads != seen:
			// A reader was here since the last look: look again once the
			// grace has passed. This wakes at most once per pumpGrace
			// however fast messages flow, and costs readers no clock
			// reading.
			seen = s.reads
			s.mu.Unlock()
			idle.Reset(pumpGrace)
			select {
			case <-idle.C:
			case <-s.done:
				return
			}
			continue
		case s.waiters > 0:
			// A reader has been blocked for a while (and pumps itself):
			// sleep until it leaves.
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
		s.setPumpDeadlineLocked(time.Time{})
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
