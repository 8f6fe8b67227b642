package mailslot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mailslot/mailslot/internal/ctlmsg"
	"github.com/mailslot/mailslot/internal/nowait"
	"github.com/mailslot/mailslot/internal/quota"
	"golang.org/x/sys/unix"
)

// stallBound is how long a write whose room is reserved may wait for the
// kernel to take it (the reader has not yet emptied the writer's
// connection), if its own timeout is shorter. Past it the write fails with
// ErrSlotFull: a stopped reader never hangs a writer.
const stallBound = 5 * time.Second

// pollSlice is how often Open, waiting for the slot's handshake, checks its
// context.
const pollSlice = 50 * time.Millisecond

// localWriter is a connection to a local slot, admitted by its reader, with
// the slot's quota page mapped.
type localWriter struct {
	fd       int
	file     *os.File        // fd, registered with Go's poller to wait for buffer space
	raw      syscall.RawConn // file's
	waitMu   sync.Mutex      // one write at a time waits in the poller; see send
	sendErr  syscall.Errno   // result of trySend, guarded by waitMu
	waitP    []byte          // the record trySend sends, guarded by waitMu
	trySend  func(uintptr) bool
	page     *quota.Page
	quota    int64
	limit    int
	own      Sender
	addr     string
	closed   atomic.Bool
	inflight atomic.Int32 // writes using fd and page; Close waits for none
	stop     func() bool
}

// openLocal connects to a local slot, verifies its owner if asked, and
// reads its handshake.
func openLocal(ctx context.Context, n Name, o *openOptions) (writerBackend, error) {
	addr := slotAddr(o.namespace, n)
	c, err := dialSlot(ctx, addr, o.owner)
	if err != nil {
		return nil, err
	}
	if c.hello.Busy {
		c.close()
		return nil, fmt.Errorf("%w: the slot takes no more connections from uid %d now (at most %d per user besides its owner and root)",
			ErrSlotFull, os.Geteuid(), maxPeersPerUser)
	}
	if !c.hello.Admitted {
		c.close()
		return nil, fmt.Errorf("%w: the slot (owner uid %d) does not admit uid %d; its owner can widen access with AllowGroups or AllowAnyone",
			ErrAccessDenied, c.owner.UID, os.Geteuid())
	}
	page, err := quota.Map(c.pagefd, c.wakefd)
	c.pagefd, c.wakefd = -1, -1
	if err != nil {
		unix.Close(c.fd)
		return nil, err
	}
	w := &localWriter{fd: c.fd, page: page, quota: c.hello.Quota, limit: c.hello.MaxMessageSize, own: c.owner, addr: addr}
	if w.limit == 0 {
		w.limit = MaxLocalMessageSize
	}
	w.stop = w.closed.Load
	w.file = os.NewFile(uintptr(c.fd), "mailslot-writer")
	if w.raw, err = w.file.SyscallConn(); err != nil {
		w.file.Close()
		page.Close()
		return nil, err
	}
	w.trySend = func(uintptr) bool {
		w.sendErr = sendRecord(w.fd, w.waitP)
		return w.sendErr != unix.EAGAIN && w.sendErr != unix.ENOBUFS
	}
	return w, nil
}

// slotConn is a connection to a slot after its handshake.
type slotConn struct {
	fd     int
	pagefd int // -1 unless admitted
	wakefd int // the quota page's wake channel; -1 unless admitted
	owner  Sender
	hello  ctlmsg.Hello
}

func (c *slotConn) close() {
	unix.Close(c.fd)
	for _, fd := range []int{c.pagefd, c.wakefd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// dialSlot connects to the slot at addr, checks its kernel-reported owner
// against wantUID (-1 = any) before anything else, and reads the record the
// slot sends first. It returns ErrNotFound if nothing listens there.
func dialSlot(ctx context.Context, addr string, wantUID int) (*slotConn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	c := &slotConn{fd: fd, pagefd: -1, wakefd: -1}
	if err := connect(ctx, fd, addr); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// For a connected AF_UNIX socket the kernel reports the credentials the
	// listener had when it called listen(2): the slot cannot forge them.
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.owner = Sender{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}
	if wantUID >= 0 && c.owner.UID != wantUID {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: the slot is owned by uid %d (pid %d), not uid %d; nothing was sent",
			ErrAccessDenied, c.owner.UID, c.owner.PID, wantUID)
	}
	if err := c.readHello(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// connect connects fd to addr, retrying while the slot's accept backlog is
// full, until ctx ends.
func connect(ctx context.Context, fd int, addr string) error {
	sa := &unix.SockaddrUnix{Name: addr}
	for {
		err := unix.Connect(fd, sa)
		switch err {
		case nil:
			return nil
		case unix.ECONNREFUSED, unix.ENOENT:
			return fmt.Errorf("%w (no reader has it open)", ErrNotFound)
		case unix.EAGAIN, unix.EINTR:
			// The backlog is full (a busy or flooded slot): try again.
		case unix.EPROTOTYPE:
			return fmt.Errorf("%w: something that is not a mailslot is bound at its address", ErrNotFound)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the slot did not accept the connection in time", &fullTimeout{})
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// readHello waits (until ctx ends) for the slot's first record and the
// quota page that comes with an admission.
func (c *slotConn) readHello(ctx context.Context) error {
	buf := make([]byte, ctlmsg.MaxLen+1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err == unix.EAGAIN || err == unix.EINTR {
			if err := waitFD(ctx, c.fd, unix.POLLIN); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%w (%v)", ErrNotFound, err)
		}
		fds := rightsOf(oob[:oobn])
		for i, fd := range fds {
			switch i {
			case 0:
				c.pagefd = fd
			case 1:
				c.wakefd = fd
			default:
				unix.Close(fd)
			}
		}
		if n == 0 && oobn == 0 {
			return fmt.Errorf("%w (its reader hung up)", ErrNotFound)
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			return fmt.Errorf("%w: oversized handshake", ctlmsg.ErrMalformed)
		}
		h, err := ctlmsg.Decode(buf[:n])
		if err != nil {
			return err
		}
		if h.Admitted && c.wakefd < 0 {
			return fmt.Errorf("%w: admission without a quota page and its wake channel", ctlmsg.ErrMalformed)
		}
		c.hello = h
		return nil
	}
}

// rightsOf returns the descriptors in ancillary data.
func rightsOf(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// waitFD waits until fd is ready for events or ctx ends, in slices so that
// cancellation is noticed.
func waitFD(ctx context.Context, fd int, events int16) error {
	for {
		if err := ctx.Err(); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return &fullTimeout{detail: "no answer from its reader in time"}
			}
			return err
		}
		slice := pollSlice
		if dl, ok := ctx.Deadline(); ok {
			slice = min(slice, max(time.Until(dl), time.Millisecond))
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(fds, int(slice.Milliseconds())+1)
		if err == nil && n > 0 {
			return nil
		}
	}
}

func (w *localWriter) write(p []byte, lim writeLimit) error {
	if len(p) > w.limit {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, len(p), w.limit)
	}
	w.inflight.Add(1)
	defer w.inflight.Add(-1)
	if w.closed.Load() {
		return net.ErrClosed
	}
	cost := int64(MessageCost(len(p)))
	if !w.page.TryReserve(cost, w.quota) && !w.page.Reserve(cost, w.quota, lim.at(), w.stop) {
		switch {
		case w.closed.Load():
			return net.ErrClosed
		case w.page.Closed() || w.hungUp():
			return fmt.Errorf("%w (its reader closed it)", ErrNotFound)
		}
		return &fullTimeout{detail: "no room in its quota before the write timeout"}
	}
	if err := w.send(p, lim); err != nil {
		w.page.Release(cost, w.quota)
		return err
	}
	return nil
}

// sendRecord sends p as one record without blocking.
func sendRecord(fd int, p []byte) syscall.Errno {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	for {
		_, _, e := nowait.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)),
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		if e != unix.EINTR {
			return e
		}
	}
}

// send sends one reserved record. The kernel may briefly have no buffer
// for it (the reader has not emptied the connection yet); then it waits for
// buffer space up to max(lim, stallBound). One write at a time waits in
// Go's poller, which wakes it the moment there is space; a write that finds
// another one waiting there retries with a growing pause instead, so that
// goroutines sharing a Writer never queue behind each other's waits.
func (w *localWriter) send(p []byte, lim writeLimit) error {
	var (
		stall time.Time
		pause time.Duration
	)
	for {
		e := sendRecord(w.fd, p)
		if e != unix.EAGAIN && e != unix.ENOBUFS {
			return sendErr(e)
		}
		now := time.Now()
		if stall.IsZero() {
			stall = now.Add(stallBound)
			if deadline := lim.at(); deadline.After(stall) {
				stall = deadline
			}
		}
		if now.After(stall) {
			return &fullTimeout{detail: "its reader is not taking messages in"}
		}
		if w.closed.Load() {
			return net.ErrClosed
		}
		if w.waitMu.TryLock() {
			err := w.waitInPoller(p, stall)
			w.waitMu.Unlock()
			if err != errStalled {
				return err
			}
			continue
		}
		if pause == 0 {
			pause = sendPauseMin
		}
		time.Sleep(min(pause, stall.Sub(now)))
		pause = min(2*pause, sendPauseMax)
	}
}

// errStalled means that the poller's wait ended without sending.
var errStalled = errors.New("stalled")

// waitInPoller sends p, waiting in Go's poller for buffer space until stall.
// w.waitMu must be held.
func (w *localWriter) waitInPoller(p []byte, stall time.Time) error {
	w.file.SetWriteDeadline(stall)
	if w.closed.Load() { // Close may have kicked before the deadline was set
		return net.ErrClosed
	}
	w.waitP = p
	err := w.raw.Write(w.trySend)
	w.waitP = nil
	if err != nil {
		if w.closed.Load() {
			return net.ErrClosed
		}
		return errStalled // the deadline passed: send decides
	}
	return sendErr(w.sendErr)
}

// sendErr maps the result of a send.
func sendErr(e syscall.Errno) error {
	switch e {
	case 0:
		return nil
	case unix.EPIPE, unix.ECONNRESET, unix.ENOTCONN, unix.ECONNREFUSED:
		return fmt.Errorf("%w (its reader closed it)", ErrNotFound)
	}
	return e
}

// The pauses of a write waiting for kernel buffer space while another write
// of the same Writer waits in the poller.
const (
	sendPauseMin = 20 * time.Microsecond
	sendPauseMax = 20 * time.Millisecond
)

// hungUp reports whether the slot's end of the connection is gone.
func (w *localWriter) hungUp() bool {
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
}

func (w *localWriter) info() (Info, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultOpenTimeout)
	defer cancel()
	c, err := dialSlot(ctx, w.addr, w.own.UID)
	if err != nil {
		return Info{}, err
	}
	c.close()
	if c.owner.PID != w.own.PID || !c.hello.Admitted {
		return Info{}, fmt.Errorf("%w (its reader closed it)", ErrNotFound)
	}
	return helloInfo(c.hello), nil
}

func helloInfo(h ctlmsg.Hello) Info {
	info := Info{MaxMessageSize: h.MaxMessageSize, NextSize: h.NextSize, MessageCount: h.MessageCount,
		ReadTimeout: WaitForever}
	if h.ReadTimeoutMS >= 0 {
		info.ReadTimeout = time.Duration(h.ReadTimeoutMS) * time.Millisecond
	}
	return info
}

func (w *localWriter) owner() (Sender, error) { return w.own, nil }

func (w *localWriter) close() error {
	w.closed.Store(true)
	w.page.Kick()                         // writes of ours waiting for room look again, and leave
	w.file.SetWriteDeadline(aLongTimeAgo) // and the one waiting for buffer space
	for w.inflight.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	w.page.Close()
	return w.file.Close()
}
