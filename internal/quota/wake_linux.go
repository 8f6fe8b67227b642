package quota

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The wake channel. Writers that wait for room must not sleep in a blocking
// system call (futex(2), poll(2)): that holds one of the Go runtime's Ps
// until the runtime takes it back, and an in-process reader, which is what
// frees the room, waits for a CPU meanwhile. So they wait where Go's poller
// parks goroutines: on a descriptor. The slot makes a Unix datagram
// socketpair, keeps one end and passes the other, shut down for writing, to
// every admitted writer, each of which registers its copy with its own
// poller. To wake them all the slot sends one byte: the kernel wakes every
// epoll set watching the socket on every datagram, whether or not earlier
// ones were read (Go's poller is edge-triggered), so nobody has to read
// them. The slot empties the writers' end itself when its send buffer is
// full.
//
// Nothing a writer does with its end can block the slot: the slot sends and
// empties with MSG_DONTWAIT, which holds whatever the file's O_NONBLOCK
// flag says. A writer that empties the channel itself, or shuts it down,
// only delays other writers' wake-ups: they look at the page at least every
// MaxWaitSlice anyway.

// MaxWaitSlice is the longest a writer waits for room without looking at the
// page, whether or not it is woken: a wake-up lost to a writer that meddles
// with the page or the channel costs at most this.
const MaxWaitSlice = 50 * time.Millisecond

// waitSlice is MaxWaitSlice; tests lengthen it to see that wake-ups alone
// wake writers.
var waitSlice = MaxWaitSlice

// wakeSndBuf bounds the kernel memory of wake-ups nobody read.
const wakeSndBuf = 32 << 10

// drainMax bounds the receives of one emptying of the channel.
const drainMax = 1024

// waker is the slot's end of the wake channel.
type waker struct {
	fd   int // the slot's end: sends wake-ups
	peer int // the writers' end: passed to writers, emptied here
}

func newWaker() (*waker, error) {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	w := &waker{fd: sv[0], peer: sv[1]}
	// Writers may only listen.
	if err := unix.Shutdown(w.peer, unix.SHUT_WR); err != nil {
		w.close()
		return nil, err
	}
	unix.SetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, wakeSndBuf)
	return w, nil
}

func (w *waker) close() {
	unix.Close(w.fd)
	unix.Close(w.peer)
}

var oneByte = []byte{0}

// wake wakes every writer waiting on the channel. It never blocks.
func (w *waker) wake() {
	for try := 0; try < 2; try++ {
		err := unix.Sendto(w.fd, oneByte, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, nil)
		if err != unix.EAGAIN && err != unix.ENOBUFS && err != unix.EINTR {
			return // sent, or the channel is broken (a writer shut it down)
		}
		if err != unix.EINTR {
			w.drain()
		}
	}
}

// drain empties the writers' end: earlier wake-ups have done their work.
func (w *waker) drain() {
	var b [1]byte
	for i := 0; i < drainMax; i++ {
		if _, _, err := unix.Recvfrom(w.peer, b[:], unix.MSG_DONTWAIT); err != nil && err != unix.EINTR {
			return
		}
	}
}

// waiter is a writer's end of the wake channel, in Go's poller. One
// goroutine at a time (the leader) waits in the poller; others sharing the
// writer wait for the leader to leave, which it does on every wake-up.
type waiter struct {
	file *os.File
	raw  syscall.RawConn

	mu     sync.Mutex
	leader bool
	left   chan struct{} // closed when the current leader leaves the poller
}

// newWaiter checks that fd is a Unix datagram socket and registers it with
// Go's poller. It takes fd, and closes it on failure.
func newWaiter(fd int) (*waiter, error) {
	fail := func(err error) (*waiter, error) {
		unix.Close(fd)
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fail(fmt.Errorf("%w: wake channel of mode %#o", ErrBadPage, st.Mode))
	}
	dom, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err1 != nil || err2 != nil || dom != unix.AF_UNIX || typ != unix.SOCK_DGRAM {
		return fail(fmt.Errorf("%w: wake channel is not a Unix datagram socket", ErrBadPage))
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail(err)
	}
	w := &waiter{file: os.NewFile(uintptr(fd), "mailslot-wake")}
	// SetReadDeadline fails unless the file is in the poller.
	if err := w.file.SetReadDeadline(time.Time{}); err != nil {
		w.file.Close()
		return nil, fmt.Errorf("%w: wake channel: %v", ErrBadPage, err)
	}
	var err error
	if w.raw, err = w.file.SyscallConn(); err != nil {
		w.file.Close()
		return nil, err
	}
	return w, nil
}

func (w *waiter) close() { w.file.Close() }

// aLongTimeAgo is a deadline in the past, to wake the leader.
var aLongTimeAgo = time.Unix(1, 0)

// kick makes the leader leave the poller now (and with it every follower).
func (w *waiter) kick() { w.file.SetReadDeadline(aLongTimeAgo) }

// wait returns once look returns true, or after a wake-up, or at deadline,
// or after MaxWaitSlice, whichever comes first. look is called once before
// waiting; it must be true if the wait is pointless.
func (w *waiter) wait(deadline time.Time, look func() bool) {
	until := time.Now().Add(waitSlice)
	if deadline.Before(until) {
		until = deadline
	}
	w.mu.Lock()
	if w.leader {
		left := w.left
		w.mu.Unlock()
		if look() {
			return
		}
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		select {
		case <-left:
		case <-t.C:
		}
		return
	}
	w.leader, w.left = true, make(chan struct{})
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.leader = false
		close(w.left)
		w.mu.Unlock()
	}()
	// A deadline set here cannot undo a kick: look checks what the kick
	// was for, after this.
	w.file.SetReadDeadline(until)
	first := true
	w.raw.Read(func(uintptr) bool {
		if first {
			first = false
			// The poller forgets wake-ups that came before Read: look
			// at the page after it, not before.
			return look()
		}
		return true // woken
	})
}
